// A position in a rotating file: the inode of the file that holds the byte (it travels with
// renames) and the byte's stream offset: how many bytes the chain had received before it, counted
// from the chain's creation (truncate mode goes on counting). The stream offset, not the offset in
// the file, because inode numbers get reused: a position is valid only while its offset lies in
// the range its inode's file covers, so a reused inode can never send a reader into newer data,
// and the bytes a reader missed are always an exact difference of two offsets.

export interface Position {
  readonly inode: bigint;
  readonly offset: number;
}

/** The beginning of whatever the chain still holds. Inode 0 never names a file on Linux. */
export const START: Position = Object.freeze({ inode: 0n, offset: 0 });
