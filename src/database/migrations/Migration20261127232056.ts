import { Migration } from '@mikro-orm/migrations';

export class Migration20261127232056 extends Migration {
  override name = 'Migration20261127232056';

  override up(): void | Promise<void> {
    this.addSql(`alter table "processing_request" add "csv_delimiter" text not null default ',';`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "processing_request" drop column "csv_delimiter";`);
  }
}
