import { Migration } from '@mikro-orm/migrations';

export class Migration20261121082112 extends Migration {
  override name = 'Migration20261121082112';

  override up(): void | Promise<void> {
    this.addSql(`alter table "image" add "source_image_id" uuid null;`);
    this.addSql(
      `create index "image_source_image_id_index" on "image" ("source_image_id") where "source_image_id" is not null;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "image_source_image_id_index";`);
    this.addSql(`alter table "image" drop column "source_image_id";`);
  }
}
