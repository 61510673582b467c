#include "agent/images/airgap.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "agent/images/digest.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strings.h"

namespace minik::agent::images {
namespace {

using StateMap = std::map<std::string, AirgapImporter::FileState>;

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool StatFile(const std::string& path, int64_t* size, int64_t* mtime_ns) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  *size = st.st_size;
  *mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return true;
}

StateMap LoadState(const std::string& path) {
  StateMap out;
  StatusOr<std::string> text = ReadSmallFile(path, 16 << 20);
  if (!text.ok()) return out;
  StatusOr<JsonDoc> doc = ParseJson(*text);
  if (!doc.ok() || !doc->IsObject()) return out;
  const JsonValue* files = Member(*doc, "files");
  if (files == nullptr || !files->IsObject()) return out;
  for (const auto& m : files->GetObject()) {
    AirgapImporter::FileState s;
    s.size = GetInt(m.value, "size").value_or(-1);
    s.mtime_ns = GetInt(m.value, "mtimeNs").value_or(-1);
    s.ok = GetBool(m.value, "ok").value_or(false);
    if (const JsonValue* ids = Member(m.value, "imageIDs"); ids != nullptr && ids->IsArray()) {
      for (const auto& id : ids->GetArray()) {
        if (id.IsString()) s.image_ids.emplace_back(id.GetString());
      }
    }
    out[m.name.GetString()] = std::move(s);
  }
  return out;
}

void SaveState(const std::string& path, const StateMap& state) {
  JsonDoc doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  JsonValue files(rapidjson::kObjectType);
  for (const auto& [name, s] : state) {
    JsonValue j(rapidjson::kObjectType);
    j.AddMember("size", JsonValue(static_cast<int64_t>(s.size)), a);
    j.AddMember("mtimeNs", JsonValue(static_cast<int64_t>(s.mtime_ns)), a);
    j.AddMember("ok", s.ok, a);
    JsonValue ids(rapidjson::kArrayType);
    for (const auto& id : s.image_ids) ids.PushBack(MakeString(id, a), a);
    j.AddMember("imageIDs", ids, a);
    files.AddMember(MakeString(name, a), j, a);
  }
  doc.AddMember("files", files, a);
  Status st = WriteFileAtomic(path, ToJson(doc));
  if (!st.ok()) MINIK_LOG(Warning) << "air-gap images: " << st.ToString();
}

std::string DefaultStateFile(const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  size_t slash = d.rfind('/');
  return (slash == std::string::npos ? std::string(".") : d.substr(0, slash == 0 ? 1 : slash)) +
         "/airgap-imported.json";
}

}  // namespace

bool AirgapImporter::IsArchiveName(const std::string& name) {
  if (name.empty() || name[0] == '.' || name.find('/') != std::string::npos) return false;
  return EndsWith(name, ".tar") || EndsWith(name, ".tar.gz") || EndsWith(name, ".tgz") || EndsWith(name, ".tar.zst");
}

AirgapImporter::AirgapImporter(http::Loop& loop, WorkPool& pool, ImageStore& store, std::string dir,
                               OnImported on_imported)
    : AirgapImporter(loop, pool, store, std::move(dir), std::move(on_imported), Options{}) {}

AirgapImporter::AirgapImporter(http::Loop& loop, WorkPool& pool, ImageStore& store, std::string dir,
                               OnImported on_imported, Options options)
    : loop_(loop),
      pool_(pool),
      store_(store),
      dir_(std::move(dir)),
      on_imported_(std::move(on_imported)),
      options_([&] {
        Options o = options;
        if (o.state_file.empty()) o.state_file = DefaultStateFile(dir_);
        return o;
      }()),
      self_(std::make_shared<AirgapImporter*>(this)) {}

AirgapImporter::~AirgapImporter() {
  *self_ = nullptr;
  timers_.clear();
  watch_.reset();
}

Status AirgapImporter::Start() {
  if (started_) return Status::OK();
  std::string cur;
  for (std::string_view comp : Split(dir_, '/')) {
    cur += comp;
    if (!cur.empty() && mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("mkdir " + cur, errno);
    cur += '/';
  }
  StatusOr<http::HandlePtr> w = loop_.WatchPath(dir_, [this](const std::string& name) { OnEvent(name); });
  if (!w.ok()) return w.status();
  watch_ = std::move(*w);
  started_ = true;
  busy_ = true;
  std::weak_ptr<AirgapImporter*> token = self_;
  http::Loop& loop = loop_;
  pool_.Submit([dir = dir_, state_file = options_.state_file, token, &loop]() {
    StateMap state = LoadState(state_file);
    std::vector<std::string> names;
    if (DIR* d = opendir(dir.c_str())) {
      while (struct dirent* de = readdir(d)) {
        if (IsArchiveName(de->d_name)) names.emplace_back(de->d_name);
      }
      closedir(d);
    }
    std::sort(names.begin(), names.end());
    loop.Post([token, state = std::move(state), names = std::move(names)]() mutable {
      std::shared_ptr<AirgapImporter*> self = token.lock();
      if (!self || *self == nullptr) return;
      AirgapImporter* me = *self;
      me->state_ = std::move(state);
      me->busy_ = false;
      for (const auto& n : names) me->Enqueue(n);
      me->RunNext();
    });
  });
  return Status::OK();
}

void AirgapImporter::OnEvent(const std::string& name) {
  if (!IsArchiveName(name)) return;
  // Every write re-arms the timer: the file is taken once it has been quiet for settle_ms.
  timers_[name] = loop_.AddTimer(options_.settle_ms, 0, [this, name]() {
    std::string n = name;
    timers_.erase(n);
    Enqueue(n);
  });
}

void AirgapImporter::Enqueue(const std::string& name) {
  if (std::find(queue_.begin(), queue_.end(), name) == queue_.end()) queue_.push_back(name);
  RunNext();
}

void AirgapImporter::RunNext() {
  if (busy_ || queue_.empty()) return;
  std::string name = queue_.front();
  queue_.pop_front();
  busy_ = true;
  std::weak_ptr<AirgapImporter*> token = self_;
  http::Loop& loop = loop_;
  ImageStore& store = store_;
  pool_.Submit([name, path = dir_ + "/" + name, state = state_, state_file = options_.state_file, token, &loop,
                &store]() mutable {
    std::vector<Image> imported;
    bool attempted = false;
    int64_t size, mtime;
    if (!StatFile(path, &size, &mtime)) {
      state.erase(name);
    } else {
      auto prev = state.find(name);
      bool unchanged = prev != state.end() && prev->second.size == size && prev->second.mtime_ns == mtime;
      if (unchanged && prev->second.ok) {
        // Still in the store? (`minik images rm` may have removed it since.)
        for (const auto& id : prev->second.image_ids) unchanged = unchanged && store.Resolve(id).ok();
      }
      if (!unchanged) {
        attempted = true;
        auto t0 = std::chrono::steady_clock::now();
        StatusOr<std::vector<Image>> imgs = store.ImportArchive(path);
        int64_t ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        FileState fs;
        fs.size = size;
        fs.mtime_ns = mtime;
        if (imgs.ok()) {
          fs.ok = true;
          for (const auto& img : *imgs) {
            fs.image_ids.push_back(img.id);
            MINIK_LOG(Info) << "Imported image " << (img.refs.empty() ? img.id : Join(img.refs, ", ")) << " (" << img.id
                            << ") from " << path << " in " << ms << "ms";
          }
          imported = std::move(*imgs);
        } else {
          MINIK_LOG(Error) << "Failed to import images: " << imgs.status().message();
        }
        int64_t size2, mtime2;
        if (StatFile(path, &size2, &mtime2) && size2 == size && mtime2 == mtime) {
          state[name] = std::move(fs);
        } else {
          state.erase(name);  // changed while importing: the change events bring it back
        }
        SaveState(state_file, state);
      }
    }
    loop.Post([token, state = std::move(state), imported = std::move(imported), attempted]() mutable {
      std::shared_ptr<AirgapImporter*> self = token.lock();
      if (!self || *self == nullptr) return;
      AirgapImporter* me = *self;
      me->state_ = std::move(state);
      me->busy_ = false;
      if (attempted) me->imports_done_++;
      if (!imported.empty() && me->on_imported_) me->on_imported_(std::move(imported));
      me->RunNext();
    });
  });
}

}  // namespace minik::agent::images
