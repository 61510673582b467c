#include "server/manifests/deployer.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "common/log.h"
#include "server/manifests/apply.h"
#include "server/manifests/manifest_file.h"

namespace minik::server {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSkipSuffix = ".skip";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Go's %q for the paths in event messages.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// k3s names a manifest's Addon after the file name up to its first '.'.
std::string AddonName(std::string_view file) { return std::string(file.substr(0, file.find('.'))); }

enum class ReadResult { kOk, kMissing, kError };

ReadResult ReadFile(const std::string& path, std::string* out, std::string* error) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return ReadResult::kMissing;
  if (!fs::is_regular_file(st)) {
    *error = "not a regular file";
    return ReadResult::kError;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return ReadResult::kMissing;
    *error = std::string("open: ") + std::strerror(errno);
    return ReadResult::kError;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return ReadResult::kOk;
}

Status WriteFileAtomic(const std::string& dir, const std::string& name, std::string_view content) {
  // The temporary name is a dotfile, which the deployer ignores.
  std::string tmp = dir + "/." + name + ".tmp";
  std::string path = dir + "/" + name;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::Internal("write " + tmp + ": " + std::strerror(errno));
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) return Status::Internal("write " + tmp + ": " + std::strerror(errno));
  }
  ::chmod(tmp.c_str(), 0600);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::Internal("rename " + tmp + ": " + std::strerror(errno));
  }
  return Status::OK();
}

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

ObjectRef RefOf(const JsonValue& obj) {
  ObjectRef ref;
  ref.api_version = std::string(GetString(obj, "apiVersion").value_or(""));
  ref.kind = std::string(GetString(obj, "kind").value_or(""));
  if (const JsonValue* meta = Member(obj, "metadata")) {
    ref.namespace_ = std::string(GetString(*meta, "namespace").value_or(""));
    ref.name = std::string(GetString(*meta, "name").value_or(""));
  }
  return ref;
}

std::string Describe(const ObjectRef& ref) {
  return ref.kind + " " + (ref.namespace_.empty() ? ref.name : ref.namespace_ + "/" + ref.name);
}

// Errors that may go away without the file changing (a namespace or kind that appears later,
// a conflict, a busy server); Invalid and friends wait for the file to change.
bool Retryable(const Status& s) {
  switch (s.code()) {
    case Code::kNotFound:
    case Code::kConflict:
    case Code::kAlreadyExists:
    case Code::kTimeout:
    case Code::kTooManyRequests:
    case Code::kUnavailable:
    case Code::kInternal:
      return true;
    default:
      return false;
  }
}

}  // namespace

ManifestDeployer::ManifestDeployer(Options options, ObjectClient& client, Clock& clock)
    : options_(std::move(options)), client_(client), clock_(clock), state_(options_.state_file) {}

ManifestDeployer::~ManifestDeployer() { Stop(); }

Status ManifestDeployer::WriteDefaultManifests() {
  std::error_code ec;
  if (!fs::exists(options_.dir, ec)) {
    fs::create_directories(options_.dir, ec);
    if (ec) return Status::Internal("create " + options_.dir + ": " + ec.message());
    ::chmod(options_.dir.c_str(), 0700);
  }
  for (const DefaultManifest& m : options_.defaults) {
    std::string name(m.name);
    if (!IsManifestFileName(name)) continue;
    std::string path = options_.dir + "/" + name;
    if (fs::exists(path + std::string(kSkipSuffix), ec)) {
      MINIK_LOG(Info) << "manifests: skipping default manifest " << path << " (" << name << ".skip exists)";
      continue;
    }
    std::string content(m.content);
    for (const auto& [from, to] : options_.template_vars) content = ReplaceAll(std::move(content), from, to);
    std::string existing, error;
    if (ReadFile(path, &existing, &error) == ReadResult::kOk && existing == content) continue;
    MINIK_LOG(Info) << "manifests: writing manifest " << path;
    MINIK_RETURN_IF_ERROR(WriteFileAtomic(options_.dir, name, content));
  }
  return Status::OK();
}

Status ManifestDeployer::LoadState() { return state_.Load(); }

void ManifestDeployer::SyncAll() {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(options_.dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (IsManifestFileName(name)) names.push_back(std::move(name));
  }
  if (ec) {
    MINIK_LOG(Warning) << "manifests: listing " << options_.dir << ": " << ec.message();
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (stopping_.load()) return;
    SyncFile(name);
  }
}

ManifestDeployer::SyncResult ManifestDeployer::SyncFile(const std::string& name_in) {
  std::string name = name_in;
  if (EndsWith(name, kSkipSuffix)) name.resize(name.size() - kSkipSuffix.size());
  SyncResult result;
  if (!IsManifestFileName(name) || name.find('/') != std::string::npos) return result;  // kIgnored
  struct Count {
    std::atomic<uint64_t>& n;
    ~Count() { n.fetch_add(1); }
  } count{sync_count_};
  int64_t started_ms = clock_.MonotonicMillis();
  std::string path = options_.dir + "/" + name;

  std::error_code ec;
  if (fs::exists(path + std::string(kSkipSuffix), ec)) {
    result.state = SyncResult::State::kSkipped;
    retries_.erase(name);
    return result;
  }
  std::string content, read_error;
  switch (ReadFile(path, &content, &read_error)) {
    case ReadResult::kMissing:
      // A deleted file leaves its objects in place (as k3s); its record stays for a comeback.
      result.state = SyncResult::State::kMissing;
      retries_.erase(name);
      return result;
    case ReadResult::kError:
      result.state = SyncResult::State::kFailed;
      result.errors.push_back(read_error);
      Report(name, path, result);
      retries_.erase(name);
      return result;
    case ReadResult::kOk:
      break;
  }

  auto parsed = ParseManifest(name, content);
  if (!parsed.ok()) {
    result.state = SyncResult::State::kFailed;
    result.errors.push_back(parsed.status().message());
    Report(name, path, result);
    retries_.erase(name);  // waits for the file to change
    return result;
  }
  std::vector<JsonDoc>& objects = *parsed;

  // Resolve scope: namespaced objects without a namespace go to "default"; cluster-scoped ones
  // carry none. Kinds the server does not serve are reported, and their tracked objects are
  // neither applied nor pruned.
  std::vector<ObjectRef> refs;
  std::vector<size_t> to_apply;
  std::vector<ObjectRef> unresolved;  // api_version + kind only
  for (size_t i = 0; i < objects.size(); ++i) {
    JsonDoc& obj = objects[i];
    ObjectRef ref = RefOf(obj);
    auto namespaced = client_.IsNamespaced(ref.api_version, ref.kind);
    if (!namespaced.ok()) {
      result.errors.push_back(Describe(ref) + ": " + namespaced.status().message());
      result.retry = result.retry || Retryable(namespaced.status());
      unresolved.push_back(ObjectRef{ref.api_version, ref.kind, "", ""});
      continue;
    }
    JsonValue& meta = *MutableMember(obj, "metadata");
    if (*namespaced) {
      if (ref.namespace_.empty()) {
        ref.namespace_ = "default";
        SetString(meta, "namespace", ref.namespace_, obj.GetAllocator());
      }
    } else {
      ref.namespace_.clear();
      RemoveMember(meta, "namespace");
    }
    refs.push_back(ref);
    to_apply.push_back(i);
  }
  // Namespaces first, so that the file's other objects can land in them.
  std::stable_partition(to_apply.begin(), to_apply.end(), [&](size_t i) {
    return GetString(objects[i], "kind").value_or("") == "Namespace" &&
           GetString(objects[i], "apiVersion").value_or("") == "v1";
  });
  for (size_t i : to_apply) {
    if (stopping_.load()) break;
    Status st = ApplyObject(objects[i]);
    if (!st.ok()) {
      result.errors.push_back(Describe(RefOf(objects[i])) + ": " + st.message());
      result.retry = result.retry || Retryable(st);
    }
  }

  if (stopping_.load()) {
    // Interrupted by shutdown: remember both the old and the new objects (nothing pruned, no
    // event); the next boot applies the file again.
    std::vector<ObjectRef> tracked = refs;
    if (const std::vector<ObjectRef>* old = state_.Find(name)) {
      for (const ObjectRef& ref : *old) {
        if (std::none_of(tracked.begin(), tracked.end(), [&](const ObjectRef& r) { return SameObject(r, ref); })) {
          tracked.push_back(ref);
        }
      }
    }
    state_.Set(name, std::move(tracked));
    if (Status st = state_.Save(); !st.ok()) {
      MINIK_LOG(Warning) << "manifests: saving state: " << st.ToString();
    }
    result.state = SyncResult::State::kFailed;
    result.errors.push_back("interrupted by shutdown");
    return result;
  }

  // Prune what the file held last time and no longer does.
  std::vector<ObjectRef> tracked = refs;
  if (const std::vector<ObjectRef>* old = state_.Find(name)) {
    for (auto it = old->rbegin(); it != old->rend(); ++it) {
      const ObjectRef& ref = *it;
      bool still = std::any_of(refs.begin(), refs.end(), [&](const ObjectRef& r) { return SameObject(r, ref); });
      if (still) continue;
      bool kind_unknown = std::any_of(unresolved.begin(), unresolved.end(), [&](const ObjectRef& u) {
        return u.kind == ref.kind && SameObject(ObjectRef{u.api_version, u.kind, ref.namespace_, ref.name}, ref);
      });
      if (kind_unknown) {
        tracked.push_back(ref);
        continue;
      }
      if (state_.TrackedElsewhere(name, ref)) continue;
      Status st = client_.Delete(ref);
      if (!st.ok() && !st.IsNotFound()) {
        result.errors.push_back("pruning " + Describe(ref) + ": " + st.message());
        result.retry = result.retry || Retryable(st);
        tracked.push_back(ref);  // pruned on the next attempt
        continue;
      }
      MINIK_LOG(Info) << "manifests: pruned " << Describe(ref) << " (removed from " << path << ")";
    }
  }
  state_.Set(name, std::move(tracked));
  if (Status st = state_.Save(); !st.ok()) {
    MINIK_LOG(Warning) << "manifests: saving state: " << st.ToString();
  }

  result.state = result.errors.empty() ? SyncResult::State::kApplied : SyncResult::State::kFailed;
  if (!result.errors.empty() && result.retry) {
    ScheduleRetry(name);
  } else {
    result.retry = false;
    retries_.erase(name);
  }
  Report(name, path, result);
  MINIK_LOG(Debug) << "manifests: synced " << path << " (" << objects.size() << " objects) in "
                   << (clock_.MonotonicMillis() - started_ms) << " ms";
  return result;
}

Status ManifestDeployer::ApplyObject(const JsonValue& desired) {
  ObjectRef ref = RefOf(desired);
  for (int attempt = 0;; ++attempt) {
    auto live = client_.Get(ref);
    if (!live.ok()) {
      if (!live.status().IsNotFound()) return live.status();
      auto created = client_.Create(WithLastApplied(desired));
      if (created.ok()) return Status::OK();
      // Created by someone else in between: take it over with an update.
      if (created.status().IsAlreadyExists() && attempt == 0) continue;
      return created.status();
    }
    JsonDoc last = LastAppliedOf(*live);
    JsonDoc merged = ThreeWayMerge(*live, last, desired);
    if (merged == *live) return Status::OK();  // nothing to change: no write
    auto updated = client_.Update(merged);
    if (updated.ok()) return Status::OK();
    if (updated.status().IsConflict() && attempt == 0) continue;  // re-read once
    return updated.status();
  }
}

void ManifestDeployer::Report(const std::string& name, const std::string& path, const SyncResult& r) {
  ObjectRef addon{"minik.io/v1", "Addon", "kube-system", AddonName(name)};
  Status st;
  if (r.state == SyncResult::State::kApplied) {
    MINIK_LOG(Info) << "manifests: applied " << path;
    st = client_.RecordEvent("Normal", "AppliedManifest", "Applied manifest at " + Quote(path), addon);
  } else {
    std::string reason;
    for (const std::string& e : r.errors) reason += (reason.empty() ? "" : "; ") + e;
    MINIK_LOG(Warning) << "manifests: applying " << path << " failed: " << reason;
    st = client_.RecordEvent("Warning", "ApplyManifestFailed",
                             "Applying manifest at " + Quote(path) + " failed: " + reason, addon);
  }
  if (!st.ok()) {
    MINIK_LOG(Warning) << "manifests: recording event: " << st.ToString();
  }
}

int64_t ManifestDeployer::RetryDelayMs(const std::string& name) const {
  auto it = retries_.find(name);
  return it == retries_.end() ? 0 : it->second.delay_ms;
}

void ManifestDeployer::ScheduleRetry(const std::string& name) {
  Retry& r = retries_[name];
  r.delay_ms = r.delay_ms == 0 ? options_.retry_initial_ms
                               : std::min<int64_t>(r.delay_ms * 2, options_.retry_max_ms);
  if (loop_ && loop_->IsLoopThread()) {  // started: on the deployer thread
    r.timer = loop_->AddTimer(static_cast<uint64_t>(r.delay_ms), 0, [this, name] { SyncFile(name); });
  }
}

// ---- thread ----

Status ManifestDeployer::Start() {
  if (thread_.joinable()) return Status::OK();
  MINIK_RETURN_IF_ERROR(WriteDefaultManifests());
  MINIK_RETURN_IF_ERROR(LoadState());
  stopping_.store(false);
  loop_ = std::make_unique<http::Loop>();
  std::promise<Status> started;
  std::future<Status> ready = started.get_future();
  thread_ = std::thread([this, &started] {
    auto watch = loop_->WatchPath(options_.dir, [this](const std::string& f) { OnFsEvent(f); });
    if (!watch.ok()) {
      started.set_value(watch.status());
      return;
    }
    watch_ = std::move(watch).value();
    started.set_value(Status::OK());
    loop_->Post([this] { SyncAll(); });
    loop_->Run();
    // Run() closed every handle; release them on this thread.
    watch_.reset();
    debounce_.reset();
    retries_.clear();
    pending_.clear();
    std::function<void()> done;
    {
      std::lock_guard<std::mutex> lock(done_mu_);
      done.swap(on_stopped_);
    }
    if (done) done();
  });
  Status st = ready.get();
  if (!st.ok()) {
    thread_.join();
    loop_.reset();
    return st.WithContext("watching " + options_.dir);
  }
  MINIK_LOG(Info) << "manifests: watching " << options_.dir;
  return Status::OK();
}

void ManifestDeployer::StopAsync(std::function<void()> done) {
  if (!thread_.joinable() || stopping_.load()) {
    if (done) done();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(done_mu_);
    on_stopped_ = std::move(done);
  }
  stopping_.store(true);
  loop_->Stop();
}

void ManifestDeployer::Stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true);
  loop_->Stop();
  thread_.join();
  loop_.reset();
}

void ManifestDeployer::OnFsEvent(const std::string& filename) {
  std::string name = filename;
  if (EndsWith(name, kSkipSuffix)) name.resize(name.size() - kSkipSuffix.size());
  if (!name.empty() && !IsManifestFileName(name)) return;  // editor swap files, dotfiles, ...
  pending_.insert(name.empty() ? std::string() : name);    // "" = unknown: sync everything
  if (!debounce_) {
    debounce_ = loop_->AddTimer(static_cast<uint64_t>(options_.debounce_ms), 0, [this] { FlushPending(); });
  }
}

void ManifestDeployer::FlushPending() {
  debounce_.reset();
  std::set<std::string> names;
  names.swap(pending_);
  if (names.count(std::string())) {
    retries_.clear();
    SyncAll();
    return;
  }
  for (const std::string& name : names) {
    if (stopping_.load()) return;
    retries_.erase(name);  // a change restarts the backoff
    SyncFile(name);
  }
}

}  // namespace minik::server
