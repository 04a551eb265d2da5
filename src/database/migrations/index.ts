import { Migration20261121055148 } from './Migration20261121055148.js';

// Every migration, in order; the app applies this list rather than globbing files.
export const migrationsList = [{ name: 'Migration20261121055148', class: Migration20261121055148 }];
