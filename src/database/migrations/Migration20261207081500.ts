import { Migration } from '@mikro-orm/migrations';

export class Migration20261207081500 extends Migration {
  override name = 'Migration20261207081500';

  // image.product_id keeps what its foreign key held, with two
  // statement-level triggers instead (why: image.entity.ts).
  override up(): void | Promise<void> {
    this.addSql(`alter table "image" drop constraint "image_product_id_foreign";`);
    this.addSql(`create function "image_product_exists_fn"() returns trigger language plpgsql as $$
begin
  if exists (select 1 from "inserted" i where not exists (select 1 from "product" p where p."id" = i."product_id")) then
    raise foreign_key_violation using message = 'an image row names a product that does not exist';
  end if;
  return null;
end $$;`);
    this.addSql(
      `create trigger "product_exists" after insert on "image" referencing new table as "inserted" for each statement execute function "image_product_exists_fn"();`,
    );
    this.addSql(`create function "product_delete_images_fn"() returns trigger language plpgsql as $$
begin
  delete from "image" where "product_id" in (select "id" from "deleted");
  return null;
end $$;`);
    this.addSql(
      `create trigger "delete_images" after delete on "product" referencing old table as "deleted" for each statement execute function "product_delete_images_fn"();`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop trigger "delete_images" on "product";`);
    this.addSql(`drop function "product_delete_images_fn"();`);
    this.addSql(`drop trigger "product_exists" on "image";`);
    this.addSql(`drop function "image_product_exists_fn"();`);
    this.addSql(
      `alter table "image" add constraint "image_product_id_foreign" foreign key ("product_id") references "product" ("id") on delete cascade;`,
    );
  }
}
