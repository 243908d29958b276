/* SPDX-License-Identifier: MIT */
/* archive: unpack tar.gz (and whatever else libarchive reads: tar.bz2,
 * zip) whose bytes may be split into parts ("x.tar.gz.001", ".002", ...,
 * raw byte slices of one file, as Veeva Direct Data publishes them).
 *
 * The parts are read as ONE stream through archive_read_open() with a
 * reader callback that walks them in order; they are never concatenated
 * in memory or on disk. (archive_read_open_filenames() is not used:
 * Debian 12's libarchive 3.6.2 crashes in it when the first parts are
 * small, shared/reference/notes/directdata.md.)
 *
 * Safety: an entry whose path is absolute, contains a ".." component or
 * is empty is refused, as is any entry that is not a regular file or a
 * directory (symlinks, hard links, devices, fifos), and any entry larger
 * than max_entry_bytes (checked against the header and while writing,
 * since a header may lie). Files are created with O_EXCL, so nothing
 * outside dest_dir, and nothing already there, is ever written through.
 * A refused archive fails the whole unpack (SW_EINVAL for unsafe
 * entries, SW_ELIMIT for bounds); the caller unpacks into a fresh
 * directory and renames it into place, so a failed unpack leaves nothing
 * visible.
 *
 * sw_archive_unpack blocks (file I/O, inflate): call it from a thread-pool
 * job; sw_archive_unpack_async runs it as one for the loop thread. */
#ifndef SW_ARCHIVE_H
#define SW_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/common.h"

/** What to unpack. Pointers borrowed until the unpack completes. */
typedef struct sw_archive_opts {
  const char *const *parts;  /* 1.. paths, in order (part 1 first) */
  size_t n_parts;
  const char *dest_dir;      /* created if missing */
  uint64_t max_entry_bytes;  /* per entry [4 GiB]; 0 = default */
  uint64_t max_total_bytes;  /* all entries [64 GiB]; 0 = default */
} sw_archive_opts;

typedef struct sw_archive_stats {
  uint64_t entries;          /* regular files written */
  uint64_t bytes_in;         /* compressed bytes read from the parts */
  uint64_t bytes_out;        /* bytes written */
} sw_archive_stats;

/**
 * Unpack every entry under dest_dir. Blocking.
 * @return 0; SW_ENOTFOUND for a missing part; SW_EINVAL for an unsafe
 *         entry or a corrupt/truncated archive (the message names the
 *         entry or the part); SW_ELIMIT past a bound; SW_EIO for local
 *         I/O errors. stats_out (may be NULL) is filled either way.
 */
int sw_archive_unpack(const sw_archive_opts *o, sw_archive_stats *stats_out,
                      sw_err *err);

/** Completion of an asynchronous unpack (on the loop thread). */
typedef void (*sw_archive_cb)(const sw_err *err,
                              const sw_archive_stats *stats, void *payload);

/**
 * Run sw_archive_unpack on the libuv thread pool; `cb` runs exactly once
 * on the loop thread (err NULL on success).
 * @return 0; SW_EINVAL for bad options (cb never called).
 */
int sw_archive_unpack_async(uv_loop_t *loop, const sw_archive_opts *o,
                            sw_archive_cb cb, void *payload, sw_err *err);

#endif
