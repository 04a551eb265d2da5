import { Migration } from '@mikro-orm/migrations';

export class Migration20261206175543 extends Migration {
  override name = 'Migration20261206175543';

  // Each new request names its public folder of outputs by a random token
  // instead of its id. Rows stored so far keep null: their files stay under
  // images/<id>/, where their output URLs point and where deleting them looks.
  override up(): void | Promise<void> {
    this.addSql(`alter table "processing_request" add "public_token" text null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "processing_request" drop column "public_token";`);
  }
}
