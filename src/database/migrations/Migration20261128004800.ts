import { Migration } from '@mikro-orm/migrations';

export class Migration20261128004800 extends Migration {
  override name = 'Migration20261128004800';

  // The readable name (serial number, product name, position) an image's output
  // key ends in, chosen at upload where the whole file is seen so that it is
  // unique within the request. Null for images uploaded before: their keys keep the image id.
  override up(): void | Promise<void> {
    this.addSql(`alter table "image" add "file_name" text null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "image" drop column "file_name";`);
  }
}
