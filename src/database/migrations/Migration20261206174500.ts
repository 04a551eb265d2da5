import { Migration } from '@mikro-orm/migrations';

export class Migration20261206174500 extends Migration {
  override name = 'Migration20261206174500';

  // image.source_host stops being generated: the upload writes it, from the
  // URL it has already parsed (hostAndPort), and the rows stored so far keep
  // the values PostgreSQL computed. Its three regular expressions per row
  // were an eighth of a 100 000-row upload's INSERT time.
  override up(): void | Promise<void> {
    this.addSql(`alter table "image" alter column "source_host" drop expression;`);
    this.addSql(`alter table "image" alter column "source_host" set not null;`);
  }

  // PostgreSQL 15 cannot give a column its expression back: the column is made again, generated.
  override down(): void | Promise<void> {
    const hostAndPort = `substring(input_url from '^[a-z]+://([^/?#]+)')`;
    const sourceHost =
      `coalesce(CASE WHEN ${hostAndPort} ~ ':[0-9]+$' THEN ${hostAndPort} ` +
      `ELSE ${hostAndPort} || CASE WHEN input_url LIKE 'https:%' THEN ':443' ELSE ':80' END END, '')`;
    this.addSql(`drop index "image_waiting_index";`);
    this.addSql(`alter table "image" drop column "source_host";`);
    this.addSql(`alter table "image" add column "source_host" text generated always as (${sourceHost}) stored;`);
    this.addSql(
      `create index "image_waiting_index" on "image" ("request_id", "source_host", "id") where "status" = 'pending' and "chunk_id" is null and "source_image_id" is null;`,
    );
  }
}
