// The air-gap images directory (k3s's <data-dir>/agent/images/): every *.tar, *.tar.gz, *.tgz
// and *.tar.zst in it is imported into the image store at start and again whenever a file is
// added or replaced while the agent runs.
//
// A file is imported once it is complete: after a quiet period with no change event
// (settle_ms; copies, `docker save >` and moves-in all end with one), and once per content:
// its size and mtime are remembered (also across restarts, in <dir>/../airgap-imported.json,
// together with the image IDs it gave, so a restart re-imports only what changed or what was
// removed from the store since). A failed import is logged and retried when the file changes.
// Imports run one at a time on the WorkPool; results come back to the loop thread.
//
// Threading: construct, Start() and destroy on the loop thread (or before Run() on the thread
// that will run it); on_imported runs on the loop thread. The store and the pool must outlive
// any import in flight: destroy the importer, then the pool, then the store.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/images/image_store.h"
#include "common/work_pool.h"
#include "http/loop.h"

namespace minik::agent::images {

class AirgapImporter {
 public:
  using OnImported = std::function<void(std::vector<Image>)>;
  struct Options {
    uint64_t settle_ms = 1000;  // quiet time after the last change before a file is imported
    std::string state_file;     // default: <dir>/../airgap-imported.json
  };

  AirgapImporter(http::Loop& loop, WorkPool& pool, ImageStore& store, std::string dir, OnImported on_imported);
  AirgapImporter(http::Loop& loop, WorkPool& pool, ImageStore& store, std::string dir, OnImported on_imported,
                 Options options);
  ~AirgapImporter();
  AirgapImporter(const AirgapImporter&) = delete;
  AirgapImporter& operator=(const AirgapImporter&) = delete;

  // Creates the directory when missing, starts watching it and imports what it holds.
  Status Start();

  // For tests and logs (loop thread): imports attempted so far (skipped unchanged files excluded).
  int imports_done() const { return imports_done_; }
  bool idle() const { return !busy_ && queue_.empty() && timers_.empty(); }

  // Whether a file name is one the importer takes.
  static bool IsArchiveName(const std::string& name);

  struct FileState {
    int64_t size = -1;
    int64_t mtime_ns = -1;
    std::vector<std::string> image_ids;
    bool ok = false;
  };

 private:
  void OnEvent(const std::string& name);
  void Enqueue(const std::string& name);
  void RunNext();

  http::Loop& loop_;
  WorkPool& pool_;
  ImageStore& store_;
  const std::string dir_;
  const OnImported on_imported_;
  const Options options_;
  http::HandlePtr watch_;
  std::map<std::string, http::HandlePtr> timers_;  // settling files
  std::deque<std::string> queue_;
  bool busy_ = false;
  bool started_ = false;
  int imports_done_ = 0;
  std::map<std::string, FileState> state_;  // loop thread; handed to the running job by copy
  std::shared_ptr<AirgapImporter*> self_;   // nulled on destruction: results arriving later are dropped
};

}  // namespace minik::agent::images
