// The part of the kubelet's container log manager that the shims leave to the agent: a shim
// rotates its container's log ("<n>.log" -> "<n>.log.<YYYYMMDD-hhmmss>", runtime/cri_log.h) and
// keeps the newest files; the agent gzips every rotated file but the newest of each log
// ("<n>.log.<time>.gz"), as upstream's container log manager does, through "<...>.gz.tmp" and a
// rename, so that a crash leaves either the plain file or the whole archive.
//
// Blocking file I/O: call from a WorkPool thread.
#pragma once

#include <string>

#include "common/status.h"

namespace minik::agent::kubelet {

struct LogCompressionStats {
  int compressed = 0;  // files gzipped by this pass
  int errors = 0;      // files left as they were (logged)
};

// One pass over <logs_dir>/<pod>/<container>/: gzips the rotated files of each log but its newest,
// and removes what an interrupted pass left (a ".gz.tmp", or a plain file whose ".gz" exists).
LogCompressionStats CompressRotatedLogs(const std::string& logs_dir);

// Removes the links in links_dir (<pod>_<ns>_<container>-<id>.log) whose log is gone and that
// are older than min_age_s: what a pod removed while the agent was down leaves (the kubelet's
// container GC does the same). Returns how many went.
int RemoveDanglingLogLinks(const std::string& links_dir, int64_t min_age_s = 60);

// gzips src into dst (through dst + ".tmp" and a rename); src stays.
Status GzipFile(const std::string& src, const std::string& dst);

}  // namespace minik::agent::kubelet
