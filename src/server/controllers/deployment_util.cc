#include "server/controllers/deployment_util.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <map>

#include "server/controllers/util.h"

namespace minik::controllers::deployment {

namespace {

constexpr int64_t kMaxInt32 = INT32_MAX;

const JsonValue* RollingUpdate(const JsonValue& d) { return Path(d, {"spec", "strategy", "rollingUpdate"}); }

std::optional<int64_t> ParseInt(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool neg = false;
  size_t i = 0;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    i = 1;
    if (s.size() == 1) return std::nullopt;
  }
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    if (v > (INT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return neg ? -v : v;
}

// Removes, recursively, members and elements that Go's semantic equality would not tell from
// absent ones: null, "", {} and [].
void PruneEmpty(JsonValue& v) {
  auto empty = [](const JsonValue& x) {
    return x.IsNull() || (x.IsString() && x.GetStringLength() == 0) || (x.IsObject() && x.MemberCount() == 0) ||
           (x.IsArray() && x.Empty());
  };
  if (v.IsObject()) {
    for (auto it = v.MemberBegin(); it != v.MemberEnd();) {
      PruneEmpty(it->value);
      if (empty(it->value)) it = v.EraseMember(it);
      else ++it;
    }
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray()) PruneEmpty(e);
  }
}

// Sorts an object's members by name (Go marshals maps sorted).
void SortMembers(JsonValue& obj, JsonAlloc& a) {
  if (!obj.IsObject()) return;
  std::map<std::string, JsonValue> sorted;
  for (auto& m : obj.GetObject()) sorted.emplace(m.name.GetString(), std::move(m.value));
  obj.RemoveAllMembers();
  for (auto& [k, v] : sorted) obj.AddMember(MakeString(k, a), std::move(v), a);
}

JsonValue& Annotations(JsonDoc& doc) {
  auto& a = doc.GetAllocator();
  JsonValue& md = EnsureObject(doc, "metadata", a);
  return EnsureObject(md, "annotations", a);
}

bool IsSkippedAnnotation(std::string_view k) {
  return k == kLastAppliedAnnotation || k == kRevisionAnnotation || k == kRevisionHistoryAnnotation ||
         k == kDesiredReplicasAnnotation || k == kMaxReplicasAnnotation || k == kDeprecatedRollbackTo;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    out.emplace_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

// Go's math.Round (half away from zero) to int.
int64_t RoundHalfAway(double x) { return static_cast<int64_t>(std::round(x)); }

}  // namespace

// ---- field accessors -----------------------------------------------------------------------

int64_t SpecReplicas(const JsonValue& obj) { return IntOr(Path(obj, {"spec", "replicas"}), 1); }

int64_t StatusInt(const JsonValue& obj, std::string_view field) {
  const JsonValue* st = Member(obj, "status");
  return st ? IntOr(Member(*st, field), 0) : 0;
}

int64_t MinReadySeconds(const JsonValue& obj) { return IntOr(Path(obj, {"spec", "minReadySeconds"}), 0); }

bool IsRollingUpdate(const JsonValue& d) {
  const JsonValue* t = Path(d, {"spec", "strategy", "type"});
  return !t || !t->IsString() || std::string_view(t->GetString()) == "RollingUpdate";
}

bool IsRecreate(const JsonValue& d) {
  const JsonValue* t = Path(d, {"spec", "strategy", "type"});
  return t && t->IsString() && std::string_view(t->GetString()) == "Recreate";
}

bool IsPaused(const JsonValue& d) {
  const JsonValue* p = Path(d, {"spec", "paused"});
  return p && p->IsBool() && p->GetBool();
}

int64_t ProgressDeadlineSeconds(const JsonValue& d) {
  return IntOr(Path(d, {"spec", "progressDeadlineSeconds"}), 600);
}
bool HasProgressDeadline(const JsonValue& d) { return ProgressDeadlineSeconds(d) != kMaxInt32; }

int64_t RevisionHistoryLimit(const JsonValue& d) { return IntOr(Path(d, {"spec", "revisionHistoryLimit"}), 10); }
bool HasRevisionHistoryLimit(const JsonValue& d) { return RevisionHistoryLimit(d) != kMaxInt32; }

std::optional<int32_t> CollisionCount(const JsonValue& d) {
  const JsonValue* c = Path(d, {"status", "collisionCount"});
  if (!c || !c->IsInt64()) return std::nullopt;
  return static_cast<int32_t>(c->GetInt64());
}

int64_t Generation(const JsonValue& obj) { return IntOr(Path(obj, {"metadata", "generation"}), 0); }

TimePoint CreationTime(const JsonValue& obj) {
  TimePoint t{};
  ParseRFC3339(client::MetaString(obj, "creationTimestamp"), &t);
  return t;
}

// ---- fenceposts ------------------------------------------------------------------------------

StatusOr<std::pair<int64_t, int64_t>> ResolveFenceposts(const JsonValue& d, int64_t desired) {
  JsonDoc dflt;
  dflt.SetString("25%");
  const JsonValue* ru = RollingUpdate(d);
  const JsonValue* surge_v = ru ? Member(*ru, "maxSurge") : nullptr;
  const JsonValue* unav_v = ru ? Member(*ru, "maxUnavailable") : nullptr;
  auto surge = ScaledValue(surge_v ? surge_v : &dflt, desired, true, 0);
  if (!surge.ok()) return surge.error();
  auto unavailable = ScaledValue(unav_v ? unav_v : &dflt, desired, false, 0);
  if (!unavailable.ok()) return unavailable.error();
  int64_t s = *surge, u = *unavailable;
  if (s == 0 && u == 0) u = 1;
  return std::make_pair(s, u);
}

int64_t MaxSurge(const JsonValue& d) {
  if (!IsRollingUpdate(d)) return 0;
  auto f = ResolveFenceposts(d, SpecReplicas(d));
  return f.ok() ? f->first : 0;
}

int64_t MaxUnavailable(const JsonValue& d) {
  int64_t replicas = SpecReplicas(d);
  if (!IsRollingUpdate(d) || replicas == 0) return 0;
  auto f = ResolveFenceposts(d, replicas);
  int64_t u = f.ok() ? f->second : 0;
  return std::min(u, replicas);
}

// ---- revisions and annotations ---------------------------------------------------------------

std::optional<int64_t> IntAnnotation(const JsonValue& obj, std::string_view key) {
  auto v = Annotation(obj, key);
  if (!v) return std::nullopt;
  return ParseInt(*v);
}

int64_t Revision(const JsonValue& obj) { return IntAnnotation(obj, kRevisionAnnotation).value_or(0); }

int64_t MaxRevision(const std::vector<ObjectPtr>& rss) {
  int64_t max = 0;
  for (const auto& rs : rss) {
    if (rs) max = std::max(max, Revision(*rs));
  }
  return max;
}

bool SetAnnotation(JsonDoc& doc, std::string_view key, std::string_view value) {
  JsonValue& an = Annotations(doc);
  auto cur = GetString(an, key);
  if (cur && *cur == value) return false;
  SetString(an, key, value, doc.GetAllocator());
  return true;
}

bool SetReplicasAnnotations(JsonDoc& rs, int64_t desired, int64_t max_replicas) {
  bool changed = SetAnnotation(rs, kDesiredReplicasAnnotation, std::to_string(desired));
  changed = SetAnnotation(rs, kMaxReplicasAnnotation, std::to_string(max_replicas)) || changed;
  if (changed) SortMembers(Annotations(rs), rs.GetAllocator());
  return changed;
}

bool ReplicasAnnotationsNeedUpdate(const JsonValue& rs, int64_t desired, int64_t max_replicas) {
  auto d = Annotation(rs, kDesiredReplicasAnnotation);
  auto m = Annotation(rs, kMaxReplicasAnnotation);
  return !d || *d != std::to_string(desired) || !m || *m != std::to_string(max_replicas);
}

bool SetNewReplicaSetAnnotations(const JsonValue& d, JsonDoc& rs, int64_t new_revision, bool exists) {
  bool changed = false;
  Annotations(rs);  // the map exists from here on
  if (const JsonValue* dan = Path(d, {"metadata", "annotations"}); dan && dan->IsObject()) {
    for (const auto& m : dan->GetObject()) {
      std::string_view k(m.name.GetString(), m.name.GetStringLength());
      if (IsSkippedAnnotation(k) || !m.value.IsString()) continue;
      changed = SetAnnotation(rs, k, std::string_view(m.value.GetString(), m.value.GetStringLength())) || changed;
    }
  }
  auto old_rev_str = Annotation(rs, kRevisionAnnotation);
  bool had_revision = old_rev_str.has_value();
  std::string old_revision(old_rev_str.value_or(""));
  int64_t old_rev = 0;
  if (!old_revision.empty()) {
    auto p = ParseInt(old_revision);
    if (!p) return false;  // upstream: "OldRevision not int", nothing else is updated
    old_rev = *p;
  }
  if (old_rev < new_revision) {
    SetAnnotation(rs, kRevisionAnnotation, std::to_string(new_revision));
    changed = true;
    if (had_revision) {
      std::string history(Annotation(rs, kRevisionHistoryAnnotation).value_or(""));
      std::vector<std::string> revs = Split(history, ',');
      if (revs[0].empty()) {
        SetAnnotation(rs, kRevisionHistoryAnnotation, old_revision);
      } else {
        size_t total = history.size() + old_revision.size() + 1;
        size_t start = 0;
        while (total > kMaxRevHistoryLengthInChars && start < revs.size()) {
          total -= revs[start].size() + 1;
          ++start;
        }
        if (total <= kMaxRevHistoryLengthInChars) {
          std::string joined;
          for (size_t i = start; i < revs.size(); ++i) joined += revs[i] + ",";
          joined += old_revision;
          SetAnnotation(rs, kRevisionHistoryAnnotation, joined);
        }
      }
    }
  }
  if (!exists) {
    int64_t replicas = SpecReplicas(d);
    changed = SetReplicasAnnotations(rs, replicas, replicas + MaxSurge(d)) || changed;
  }
  SortMembers(Annotations(rs), rs.GetAllocator());
  return changed;
}

// ---- ReplicaSets of a Deployment -------------------------------------------------------------

bool EqualIgnoreHash(const JsonValue* t1, const JsonValue* t2) {
  JsonDoc a, b;
  if (t1) a.CopyFrom(*t1, a.GetAllocator());
  if (t2) b.CopyFrom(*t2, b.GetAllocator());
  for (JsonDoc* t : {&a, &b}) {
    if (!t->IsObject()) t->SetObject();
    if (JsonValue* md = MutableMember(*t, "metadata")) {
      if (JsonValue* l = MutableMember(*md, "labels"); l && l->IsObject()) RemoveMember(*l, kPodTemplateHashLabel);
    }
    PruneEmpty(*t);
  }
  return JsonEqual(a, b);
}

namespace {
bool CreationLess(const ObjectPtr& x, const ObjectPtr& y) {
  TimePoint tx = CreationTime(*x), ty = CreationTime(*y);
  if (tx == ty) return Name(*x) < Name(*y);
  return tx < ty;
}
}  // namespace

void SortByCreation(std::vector<ObjectPtr>& rss) { std::stable_sort(rss.begin(), rss.end(), CreationLess); }

void SortByRevision(std::vector<ObjectPtr>& rss) {
  std::stable_sort(rss.begin(), rss.end(), [](const ObjectPtr& x, const ObjectPtr& y) {
    int64_t rx = Revision(*x), ry = Revision(*y);
    if (rx == ry) return CreationLess(x, y);
    return rx < ry;
  });
}

void SortBySizeNewer(std::vector<ObjectPtr>& rss) {
  std::stable_sort(rss.begin(), rss.end(), [](const ObjectPtr& x, const ObjectPtr& y) {
    int64_t sx = SpecReplicas(*x), sy = SpecReplicas(*y);
    if (sx == sy) return CreationLess(y, x);
    return sx > sy;
  });
}

void SortBySizeOlder(std::vector<ObjectPtr>& rss) {
  std::stable_sort(rss.begin(), rss.end(), [](const ObjectPtr& x, const ObjectPtr& y) {
    int64_t sx = SpecReplicas(*x), sy = SpecReplicas(*y);
    if (sx == sy) return CreationLess(x, y);
    return sx > sy;
  });
}

ObjectPtr FindNewReplicaSet(const JsonValue& d, std::vector<ObjectPtr>& rss) {
  SortByCreation(rss);
  const JsonValue* dt = Path(d, {"spec", "template"});
  for (const auto& rs : rss) {
    if (EqualIgnoreHash(Path(*rs, {"spec", "template"}), dt)) return rs;
  }
  return nullptr;
}

std::vector<ObjectPtr> FindOldReplicaSets(const JsonValue& d, std::vector<ObjectPtr>& rss) {
  ObjectPtr new_rs = FindNewReplicaSet(d, rss);
  std::vector<ObjectPtr> out;
  for (const auto& rs : rss) {
    if (new_rs && Uid(*rs) == Uid(*new_rs)) continue;
    out.push_back(rs);
  }
  return out;
}

std::vector<ObjectPtr> FilterActive(const std::vector<ObjectPtr>& rss) {
  std::vector<ObjectPtr> out;
  for (const auto& rs : rss) {
    if (rs && SpecReplicas(*rs) > 0) out.push_back(rs);
  }
  return out;
}

ObjectPtr FindActiveOrLatest(const ObjectPtr& new_rs, std::vector<ObjectPtr>& old_rss) {
  if (!new_rs && old_rss.empty()) return nullptr;
  SortByCreation(old_rss);
  std::reverse(old_rss.begin(), old_rss.end());
  std::vector<ObjectPtr> all = old_rss;
  all.push_back(new_rs);
  std::vector<ObjectPtr> active = FilterActive(all);
  if (active.empty()) return new_rs ? new_rs : old_rss[0];
  if (active.size() == 1) return active[0];
  return nullptr;
}

int64_t SumSpecReplicas(const std::vector<ObjectPtr>& rss) {
  int64_t n = 0;
  for (const auto& rs : rss) {
    if (rs) n += SpecReplicas(*rs);
  }
  return n;
}

int64_t SumStatus(const std::vector<ObjectPtr>& rss, std::string_view field) {
  int64_t n = 0;
  for (const auto& rs : rss) {
    if (rs) n += StatusInt(*rs, field);
  }
  return n;
}

// ---- rollout arithmetic ----------------------------------------------------------------------

StatusOr<int64_t> NewRSNewReplicas(const JsonValue& d, const std::vector<ObjectPtr>& all_rss,
                                   int64_t new_rs_replicas) {
  int64_t replicas = SpecReplicas(d);
  if (IsRecreate(d)) return replicas;
  if (!IsRollingUpdate(d)) {
    std::string type(GetString(*Path(d, {"spec", "strategy"}), "type").value_or(""));
    return Status::Invalid("deployment type " + type + " isn't supported");
  }
  auto f = ResolveFenceposts(d, replicas);
  if (!f.ok()) return f.error();
  int64_t current = SumSpecReplicas(all_rss);
  int64_t max_total = replicas + f->first;
  if (current >= max_total) return new_rs_replicas;
  int64_t scale_up = std::min(max_total - current, replicas - new_rs_replicas);
  return new_rs_replicas + scale_up;
}

bool IsSaturated(const JsonValue& d, const ObjectPtr& rs) {
  if (!rs) return false;
  auto desired = IntAnnotation(*rs, kDesiredReplicasAnnotation);
  if (!desired) return false;
  int64_t replicas = SpecReplicas(d);
  return SpecReplicas(*rs) == replicas && *desired == replicas && StatusInt(*rs, "availableReplicas") == replicas;
}

int64_t ReplicaSetProportion(const JsonValue& rs, const JsonValue& d, int64_t to_add, int64_t added) {
  int64_t rs_replicas = SpecReplicas(rs);
  if (rs_replicas == 0 || to_add == 0 || to_add == added) return 0;
  int64_t fraction = 0;
  int64_t d_replicas = SpecReplicas(d);
  if (d_replicas == 0) {
    fraction = -rs_replicas;
  } else {
    int64_t max_replicas = d_replicas + MaxSurge(d);
    int64_t before = IntAnnotation(rs, kMaxReplicasAnnotation).value_or(0);
    if (before == 0) before = StatusInt(d, "replicas");
    if (before == 0) {
      fraction = 0;
    } else {
      double size = static_cast<double>(rs_replicas * max_replicas) / static_cast<double>(before);
      fraction = RoundHalfAway(size) - rs_replicas;
    }
  }
  int64_t allowed = to_add - added;
  return to_add > 0 ? std::min(fraction, allowed) : std::max(fraction, allowed);
}

// ---- status and conditions -------------------------------------------------------------------

const JsonValue* GetCondition(const JsonValue* status, std::string_view type) {
  if (!status) return nullptr;
  return FindCondition(*status, type);
}

std::string_view CondField(const JsonValue* cond, std::string_view field) {
  return cond ? GetString(*cond, field).value_or("") : std::string_view();
}

JsonValue NewCondition(std::string_view type, std::string_view status, std::string_view reason,
                       std::string_view message, TimePoint now, JsonAlloc& a) {
  std::string ts = FormatRFC3339(now);
  JsonValue c(rapidjson::kObjectType);
  SetString(c, "type", type, a);
  SetString(c, "status", status, a);
  SetString(c, "lastUpdateTime", ts, a);
  SetString(c, "lastTransitionTime", ts, a);
  SetString(c, "reason", reason, a);
  SetString(c, "message", message, a);
  return c;
}

void RemoveDeploymentCondition(JsonValue& status, std::string_view type) {
  JsonValue* conds = MutableMember(status, "conditions");
  if (!conds || !conds->IsArray()) return;
  for (auto it = conds->Begin(); it != conds->End();) {
    if (GetString(*it, "type").value_or("") == type) it = conds->Erase(it);
    else ++it;
  }
}

void SetDeploymentCondition(JsonValue& status, JsonValue cond, JsonAlloc& a) {
  std::string type(GetString(cond, "type").value_or(""));
  const JsonValue* cur = GetCondition(&status, type);
  if (cur && CondField(cur, "status") == CondField(&cond, "status") &&
      CondField(cur, "reason") == CondField(&cond, "reason")) {
    return;
  }
  if (cur && CondField(cur, "status") == CondField(&cond, "status")) {
    SetString(cond, "lastTransitionTime", CondField(cur, "lastTransitionTime"), a);
  }
  RemoveDeploymentCondition(status, type);
  JsonValue* conds = MutableMember(status, "conditions");
  if (!conds || !conds->IsArray()) {
    SetMember(status, "conditions", JsonValue(rapidjson::kArrayType), a);
    conds = MutableMember(status, "conditions");
  }
  conds->PushBack(cond, a);
}

JsonDoc CalculateStatus(const std::vector<ObjectPtr>& all_rss, const ObjectPtr& new_rs, const JsonValue& d,
                        TimePoint now) {
  JsonDoc st(rapidjson::kObjectType);
  auto& a = st.GetAllocator();
  int64_t available = SumStatus(all_rss, "availableReplicas");
  int64_t total = SumSpecReplicas(all_rss);
  int64_t unavailable = std::max<int64_t>(0, total - available);
  auto put = [&](const char* name, int64_t v) {
    if (v != 0) st.AddMember(JsonValue(name, a), JsonValue(v), a);
  };
  put("observedGeneration", Generation(d));
  put("replicas", SumStatus(all_rss, "replicas"));
  put("updatedReplicas", new_rs ? StatusInt(*new_rs, "replicas") : 0);
  put("readyReplicas", SumStatus(all_rss, "readyReplicas"));
  put("availableReplicas", available);
  put("unavailableReplicas", unavailable);
  const JsonValue* old_conds = Path(d, {"status", "conditions"});
  if (old_conds && old_conds->IsArray()) st.AddMember("conditions", Clone(*old_conds, a), a);
  if (available >= SpecReplicas(d) - MaxUnavailable(d)) {
    SetDeploymentCondition(st, NewCondition(kCondAvailable, "True", kMinimumReplicasAvailable,
                                            "Deployment has minimum availability.", now, a), a);
  } else {
    SetDeploymentCondition(st, NewCondition(kCondAvailable, "False", kMinimumReplicasUnavailable,
                                            "Deployment does not have minimum availability.", now, a), a);
  }
  if (auto cc = CollisionCount(d)) st.AddMember("collisionCount", JsonValue(int64_t{*cc}), a);
  return st;
}

bool StatusEqual(const JsonValue* a, const JsonValue* b) {
  auto norm = [](const JsonValue* v) {
    JsonDoc out(rapidjson::kObjectType);
    if (!v || !v->IsObject()) return out;
    auto& al = out.GetAllocator();
    for (const auto& m : v->GetObject()) {
      std::string_view n(m.name.GetString(), m.name.GetStringLength());
      if (n != "collisionCount" && m.value.IsNumber() && m.value.IsInt64() && m.value.GetInt64() == 0) continue;
      if (m.value.IsNull() || (m.value.IsArray() && m.value.Empty())) continue;
      out.AddMember(JsonValue(m.name, al), Clone(m.value, al), al);
    }
    return out;
  };
  return JsonEqual(norm(a), norm(b));
}

bool DeploymentComplete(const JsonValue& d, const JsonValue& s) {
  int64_t replicas = SpecReplicas(d);
  return IntOr(Member(s, "updatedReplicas"), 0) == replicas && IntOr(Member(s, "replicas"), 0) == replicas &&
         IntOr(Member(s, "availableReplicas"), 0) == replicas &&
         IntOr(Member(s, "observedGeneration"), 0) >= Generation(d);
}

bool DeploymentProgressing(const JsonValue& d, const JsonValue& s) {
  const JsonValue* old = Member(d, "status");
  auto o = [&](const char* f) { return old ? IntOr(Member(*old, f), 0) : 0; };
  auto n = [&](const char* f) { return IntOr(Member(s, f), 0); };
  int64_t old_old = o("replicas") - o("updatedReplicas");
  int64_t new_old = n("replicas") - n("updatedReplicas");
  return n("updatedReplicas") > o("updatedReplicas") || new_old < old_old || n("readyReplicas") > o("readyReplicas") ||
         n("availableReplicas") > o("availableReplicas");
}

bool DeploymentTimedOut(const JsonValue& d, const JsonValue& s, TimePoint now) {
  if (!HasProgressDeadline(d)) return false;
  const JsonValue* c = GetCondition(&s, kCondProgressing);
  if (!c) return false;
  std::string_view reason = CondField(c, "reason");
  if (reason == kNewRSAvailableReason) return false;
  if (reason == kTimedOutReason) return true;
  TimePoint from{};
  if (!ParseRFC3339(CondField(c, "lastUpdateTime"), &from)) return false;
  return from + std::chrono::seconds(ProgressDeadlineSeconds(d)) < now;
}

}  // namespace minik::controllers::deployment
