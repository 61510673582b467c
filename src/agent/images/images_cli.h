// `minik images`: offline image management on a node, for k3s/crictl users.
//
//   minik images [--data-dir DIR] import FILE...   OCI layout / docker-archive tarballs (.tar,
//                                                  .tar.gz, .tar.zst), like `k3s ctr images import`
//   minik images [--data-dir DIR] ls               crictl's columns: IMAGE TAG IMAGE ID SIZE
//   minik images [--data-dir DIR] rm REF...        removes each image as `crictl rmi` does
//
// The store is <data-dir>/agent/content (default data dir /var/lib/minik); a running agent
// sharing it sees the changes. Errors: one line on stderr, exit status 1.
//
// Threading: the main thread of a tool process (blocks on disk I/O).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "agent/images/image_store.h"

namespace minik::agent::images {

// args: what follows "minik images" on the command line.
int ImagesMain(const std::vector<std::string>& args);
int ImagesMain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// go-units HumanSizeWithPrecision(size, 3) as crictl prints it: "4.27MB", "512B", "1.5kB".
std::string HumanSize(int64_t bytes);
// The `ls` table (header included), sorted as crictl sorts.
std::string FormatImageTable(const std::vector<Image>& images);

}  // namespace minik::agent::images
