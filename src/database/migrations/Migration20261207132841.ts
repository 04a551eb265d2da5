import { Migration } from '@mikro-orm/migrations';

export class Migration20261207132841 extends Migration {
  override name = 'Migration20261207132841';

  // Re-runs compare a source's bytes by their XXH3-128 digest instead of their
  // SHA-256 (why: source-validator.entity.ts). The digests already stored stay:
  // 64 hex digits never equal a new 32-digit one, so such a URL is fetched and
  // encoded once more unless its host answers 304, and the new digest is kept.
  // (The snapshot also catches up with Migration20261207081500's triggers.)
  override up(): void | Promise<void> {
    this.addSql(`alter table "reusable_output" rename column "source_sha256" to "source_xxh3";`);
    this.addSql(`alter table "source_validator" rename column "sha256" to "xxh3";`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "reusable_output" rename column "source_xxh3" to "source_sha256";`);
    this.addSql(`alter table "source_validator" rename column "xxh3" to "sha256";`);
  }
}
