/** A workspace package with a build. */
export interface BuildablePackage {
  name: string
  /** Absolute path of its folder. */
  dir: string
  /** Its package.json. */
  manifest: { name: string; private?: boolean; [field: string]: unknown }
}

/** `root`: the workspace folder (default: this repository). */
export declare function buildablePackages(root?: string): BuildablePackage[]

export declare function stalePackages(root?: string): string[]

export declare function buildChanged(options?: { root?: string; log?: (line: string) => void }): string[]
