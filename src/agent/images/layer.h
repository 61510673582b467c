// Unpacking of one image layer into a directory that can serve as an overlayfs lowerdir.
//
// The blob may be a plain tar, gzip or zstd (detected by content, whatever its media type says).
// OCI whiteouts become overlayfs ones: ".wh.name" -> character device 0/0 "name",
// ".wh..wh..opq" -> xattr trusted.overlay.opaque=y on its directory. Regular files (sparse
// too), directories, symlinks, hardlinks, device nodes and FIFOs keep their mode, owner, times
// and xattrs. An entry with a ".." component or whose path crosses a symlink is refused
// (Invalid), so nothing is ever written outside dest.
//
// Thread-safety: UnpackLayer may run on any thread, concurrently with other unpacks into other
// directories. It blocks (disk I/O, decompression): never call it on an event loop.
#pragma once

#include <string>

#include "common/status.h"

namespace minik::agent::images {

// Unpacks blob_path into dest (an existing, empty directory) and returns the layer's diff ID,
// "sha256:<hex>" of the uncompressed tar stream. On error dest is left half-written: the caller
// unpacks into a temporary directory and renames it into place only on success.
StatusOr<std::string> UnpackLayer(const std::string& blob_path, const std::string& dest);

// Removes a directory tree (never following symlinks). OK when path is absent.
Status RemoveTree(const std::string& path);

}  // namespace minik::agent::images
