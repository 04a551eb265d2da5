import { Migration20261121055148 } from './Migration20261121055148.js';
import { Migration20261121062518 } from './Migration20261121062518.js';
import { Migration20261121064227 } from './Migration20261121064227.js';
import { Migration20261121080611 } from './Migration20261121080611.js';
import { Migration20261121082112 } from './Migration20261121082112.js';
import { Migration20261127232056 } from './Migration20261127232056.js';
import { Migration20261127232540 } from './Migration20261127232540.js';
import { Migration20261127232936 } from './Migration20261127232936.js';
import { Migration20261128003000 } from './Migration20261128003000.js';
import { Migration20261128004800 } from './Migration20261128004800.js';
import { Migration20261206143341 } from './Migration20261206143341.js';
import { Migration20261206151850 } from './Migration20261206151850.js';
import { Migration20261206174500 } from './Migration20261206174500.js';
import { Migration20261206175543 } from './Migration20261206175543.js';
import { Migration20261206234251 } from './Migration20261206234251.js';
import { Migration20261207081500 } from './Migration20261207081500.js';
import { Migration20261207132841 } from './Migration20261207132841.js';

// Every migration, in order; the app applies this list rather than globbing files.
export const migrationsList = [
  { name: 'Migration20261121055148', class: Migration20261121055148 },
  { name: 'Migration20261121062518', class: Migration20261121062518 },
  { name: 'Migration20261121064227', class: Migration20261121064227 },
  { name: 'Migration20261121080611', class: Migration20261121080611 },
  { name: 'Migration20261121082112', class: Migration20261121082112 },
  { name: 'Migration20261127232056', class: Migration20261127232056 },
  { name: 'Migration20261127232540', class: Migration20261127232540 },
  { name: 'Migration20261127232936', class: Migration20261127232936 },
  { name: 'Migration20261128003000', class: Migration20261128003000 },
  { name: 'Migration20261128004800', class: Migration20261128004800 },
  { name: 'Migration20261206143341', class: Migration20261206143341 },
  { name: 'Migration20261206151850', class: Migration20261206151850 },
  { name: 'Migration20261206174500', class: Migration20261206174500 },
  { name: 'Migration20261206175543', class: Migration20261206175543 },
  { name: 'Migration20261206234251', class: Migration20261206234251 },
  { name: 'Migration20261207081500', class: Migration20261207081500 },
  { name: 'Migration20261207132841', class: Migration20261207132841 },
];
