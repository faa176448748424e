// A position in a rotating file: the file's inode (it travels with renames) and a byte offset in it.

export interface Position {
  readonly inode: bigint;
  readonly offset: number;
}

/** The beginning of whatever the chain still holds. Inode 0 never names a file on Linux. */
export const START: Position = Object.freeze({ inode: 0n, offset: 0 });
