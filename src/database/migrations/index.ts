import { Migration20261121054914 } from './Migration20261121054914.js';

// Every migration, in order; the app applies this list rather than globbing files.
export const migrationsList = [{ name: 'Migration20261121054914', class: Migration20261121054914 }];
