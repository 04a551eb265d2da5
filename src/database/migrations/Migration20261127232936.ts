import { Migration } from '@mikro-orm/migrations';

export class Migration20261127232936 extends Migration {
  override name = 'Migration20261127232936';

  // Output URLs and the result file were written at finalize with the base URL
  // baked in; both are now derived when read, and input_urls was never read.
  override up(): void | Promise<void> {
    this.addSql(`alter table "processing_request" drop column "result_file_key";`);

    this.addSql(`alter table "product" drop column "input_urls", drop column "output_urls";`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "processing_request" add "result_file_key" text null;`);

    // Rebuilt from the image rows, which have always held the same URLs.
    this.addSql(`alter table "product" add "input_urls" jsonb null, add "output_urls" jsonb null;`);
    this.addSql(
      `update "product" p set "input_urls" = coalesce((select jsonb_agg(i."input_url" order by i."position") from "image" i where i."product_id" = p."id"), '[]'::jsonb);`,
    );
    this.addSql(`alter table "product" alter column "input_urls" set not null;`);
  }
}
