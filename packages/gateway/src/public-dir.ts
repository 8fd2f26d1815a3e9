import { fileURLToPath } from 'node:url'

/**
 * The package's `public/` folder (the admin page). Resolved from this module, which sits one level below the
 * package root both as a source file (`src/`) and bundled (`dist/`).
 */
export const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url))
