// The write verbs of the ApiServer: create, update, patch, delete, deletecollection, and the
// binding, scale and eviction subresources.
#include <random>
#include <set>

#include "api/defaults.h"
#include "api/errors.h"
#include "api/field_validation.h"
#include "api/patch.h"
#include "api/protobuf.h"
#include "api/validation.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/yaml.h"
#include "server/admission.h"
#include "server/api_call.h"
#include "server/api_server.h"
#include "server/list_filter.h"
#include "server/service_account_tokens.h"
#include "server/strategy.h"

namespace minik::server {
namespace {

using DocPtr = std::shared_ptr<JsonDoc>;

uint64_t RandomBits() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

StatusOr<DocPtr> DecodeBody(const ApiServer::Call& c) {
  auto doc = DecodeRequestBody(c.req);
  if (!doc.ok()) return doc.error();
  if (!doc->IsObject()) return Status::BadRequest("couldn't get version/kind; json parse error: json: cannot unmarshal " + std::string(doc->IsArray() ? "array" : "value") + " into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }");
  return std::make_shared<JsonDoc>(std::move(*doc));
}

// Checks apiVersion/kind against the resource (filling them when absent, as the typed decoder does).
Status CheckTypeMeta(const api::ResourceInfo& info, JsonDoc& doc, const std::string& kind, const std::string& api_version) {
  auto& a = doc.GetAllocator();
  auto k = GetString(doc, "kind");
  auto v = GetString(doc, "apiVersion");
  if (k && !k->empty() && *k != kind) {
    return Status::BadRequest("the object provided is unrecognized (must be of type " + kind + "): " + std::string(*k));
  }
  if (v && !v->empty() && *v != api_version) {
    return Status::BadRequest("the API version in the data (" + std::string(*v) + ") does not match the expected API version (" + api_version + ")");
  }
  SetString(doc, "apiVersion", api_version, a);
  SetString(doc, "kind", kind, a);
  // Keep apiVersion and kind first, as upstream serializes them.
  JsonDoc ordered;
  ordered.SetObject();
  auto& oa = ordered.GetAllocator();
  ordered.AddMember("kind", MakeString(kind, oa), oa);
  ordered.AddMember("apiVersion", MakeString(api_version, oa), oa);
  for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
    std::string_view n(it->name.GetString(), it->name.GetStringLength());
    if (n == "kind" || n == "apiVersion") continue;
    ordered.AddMember(JsonValue(it->name, oa), JsonValue(it->value, oa), oa);
  }
  doc.Swap(ordered);
  (void)info;
  return Status::OK();
}

std::string MetaString(const JsonValue& obj, const char* field) {
  const JsonValue* m = Member(obj, "metadata");
  if (!m) return "";
  auto s = GetString(*m, field);
  return s ? std::string(*s) : "";
}

bool ReturnsDeletedObject(const api::ResourceInfo& info) {
  static const std::set<std::string> kinds = {"Pod", "Service", "ServiceAccount", "Namespace", "StorageClass"};
  return (info.group.empty() || info.group == "storage.k8s.io") && kinds.count(info.kind);
}

std::string ObjectJson(const ObjectPtr& o) {
  std::string s;
  AppendObjectJson(*o->object, false, &s);
  return s;
}

std::string DeleteSuccessJson(const api::ResourceInfo& info, const std::string& name, const std::string& uid) {
  JsonDoc d;
  d.SetObject();
  auto& a = d.GetAllocator();
  d.AddMember("kind", "Status", a);
  d.AddMember("apiVersion", "v1", a);
  d.AddMember("metadata", JsonValue(rapidjson::kObjectType), a);
  d.AddMember("status", "Success", a);
  JsonValue det(rapidjson::kObjectType);
  det.AddMember("name", MakeString(name, a), a);
  if (!info.group.empty()) det.AddMember("group", MakeString(info.group, a), a);
  det.AddMember("kind", MakeString(info.plural, a), a);
  det.AddMember("uid", MakeString(uid, a), a);
  d.AddMember("details", det, a);
  return ToJson(d);
}

// Maps store errors of a write on key to upstream's API errors.
Status MapStoreError(const Status& st, const api::ResourceInfo& info, const std::string& name) {
  switch (st.code()) {
    case Code::kAlreadyExists: return api::AlreadyExistsError(info.group, info.plural, name);
    case Code::kNotFound: return api::NotFoundError(info.group, info.plural, name);
    case Code::kConflict: return api::ConflictError(info.group, info.plural, name, api::kOptimisticLockMessage);
    default: return st;
  }
}

std::vector<StatusCause> ValidateMeta(const api::ResourceInfo& info, const JsonValue& obj) {
  const JsonValue* meta = Member(obj, "metadata");
  static const JsonValue kEmpty(rapidjson::kObjectType);
  return api::ValidateObjectMeta(meta ? *meta : kEmpty, info.namespaced, info.name_rule);
}

Status Invalid(const api::ResourceInfo& info, const std::string& name, std::vector<StatusCause> causes) {
  return api::InvalidError(info.group, info.kind, name, std::move(causes));
}

// Admission-time validation on top of the kind's own (metadata + kind), merged as upstream reports them.
Status ValidateAll(const api::ResourceInfo& info, const JsonValue& obj, const JsonValue* old) {
  auto causes = ValidateMeta(info, obj);
  Status kind_status = api::ValidateObject(info, obj, old);
  if (!kind_status.ok()) {
    if (kind_status.code() != Code::kInvalid || !kind_status.details()) return kind_status;
    for (const auto& cause : kind_status.details()->causes) causes.push_back(cause);
  }
  if (!causes.empty()) return Invalid(info, MetaString(obj, "name"), std::move(causes));
  return Status::OK();
}

// Reviews (authentication/authorization) are answered, never stored. Until RBAC lands every
// authenticated request is allowed, so access reviews say allowed: true, which is what this
// server actually does.
bool IsReview(const api::ResourceInfo& info) {
  return (info.group == "authorization.k8s.io" || info.group == "authentication.k8s.io") &&
         info.kind.find("Review") != std::string::npos;
}

JsonValue StringArray(const std::vector<std::string>& v, JsonAlloc& a) {
  JsonValue arr(rapidjson::kArrayType);
  for (const auto& s : v) arr.PushBack(MakeString(s, a), a);
  return arr;
}

JsonValue UserInfo(const std::string& user, const std::vector<std::string>& groups, JsonAlloc& a,
                   const std::string& uid = "", const std::map<std::string, std::vector<std::string>>& extra = {}) {
  JsonValue u(rapidjson::kObjectType);
  u.AddMember("username", MakeString(user, a), a);
  if (!uid.empty()) u.AddMember("uid", MakeString(uid, a), a);
  u.AddMember("groups", StringArray(groups, a), a);
  if (!extra.empty()) {
    JsonValue e(rapidjson::kObjectType);
    for (const auto& [k, v] : extra) e.AddMember(MakeString(k, a), StringArray(v, a), a);
    u.AddMember("extra", e, a);
  }
  return u;
}

const JsonDoc& AnswerReview(const api::ResourceInfo& info, JsonDoc& doc, const ApiServer::Call& c,
                            const std::string& token, ServiceAccountTokens* sa_tokens) {
  auto& a = doc.GetAllocator();
  JsonValue& meta = EnsureObject(doc, "metadata", a);
  SetMember(meta, "creationTimestamp", JsonValue(rapidjson::kNullType), a);
  JsonValue status(rapidjson::kObjectType);
  if (info.kind == "SelfSubjectReview") {
    status.AddMember("userInfo", UserInfo(c.user, c.groups, a, c.uid, c.extra), a);
  } else if (info.kind == "TokenReview") {
    const JsonValue* t = Path(doc, {"spec", "token"});
    bool ok = t && t->IsString() && !token.empty() && token == t->GetString();
    std::vector<std::string> audiences;
    if (const JsonValue* auds = Path(doc, {"spec", "audiences"}); auds && auds->IsArray()) {
      for (const auto& v : auds->GetArray()) if (v.IsString()) audiences.emplace_back(v.GetString());
    }
    std::vector<std::string> matched = {kDefaultIssuer};
    if (ok) {
      status.AddMember("authenticated", true, a);
      status.AddMember("user", UserInfo("minik:token", {"system:authenticated"}, a), a);
    } else if (sa_tokens && t && t->IsString()) {
      auto u = sa_tokens->Authenticate(t->GetString(), audiences, &matched);
      status.AddMember("authenticated", u.ok(), a);
      if (u.ok()) {
        u->groups.push_back("system:authenticated");
        status.AddMember("user", UserInfo(u->username, u->groups, a, u->uid, u->extra), a);
      } else if (u.error().code() != Code::kNotFound) {
        status.AddMember("error", MakeString("[invalid bearer token, " + u.error().message() + "]", a), a);
      }
    } else {
      status.AddMember("authenticated", false, a);
    }
    if (ok || status["authenticated"].GetBool()) status.AddMember("audiences", StringArray(matched, a), a);
  } else if (info.kind == "SelfSubjectRulesReview") {
    JsonValue rule(rapidjson::kObjectType);
    rule.AddMember("verbs", StringArray({"*"}, a), a);
    rule.AddMember("apiGroups", StringArray({"*"}, a), a);
    rule.AddMember("resources", StringArray({"*"}, a), a);
    JsonValue rules(rapidjson::kArrayType);
    rules.PushBack(rule, a);
    JsonValue nonres(rapidjson::kObjectType);
    nonres.AddMember("verbs", StringArray({"*"}, a), a);
    nonres.AddMember("nonResourceURLs", StringArray({"*"}, a), a);
    JsonValue nrules(rapidjson::kArrayType);
    nrules.PushBack(nonres, a);
    status.AddMember("resourceRules", rules, a);
    status.AddMember("nonResourceRules", nrules, a);
    status.AddMember("incomplete", false, a);
  } else {
    status.AddMember("allowed", true, a);
  }
  SetMember(doc, "status", std::move(status), a);
  return doc;
}

void SendWritten(ApiServer::Call& c, int code, const ObjectPtr& o) {
  SendJson(*c.resp, code, ObjectJson(o), "application/json", c.warnings);
}

void SendDoc(ApiServer::Call& c, int code, const JsonValue& doc) {
  SendJson(*c.resp, code, ToJson(doc), "application/json", c.warnings);
}

// fieldValidation: Strict rejects unknown and duplicate fields, Warn (the default) reports them as
// warnings, Ignore drops them silently. They are dropped from the object in every mode, as
// upstream's decoding into typed objects does; type errors fail in every mode.
StatusOr<std::string> FieldValidationMode(const ApiServer::Call& c) {
  std::string mode = c.Param("fieldValidation");
  if (mode.empty()) return std::string("Warn");
  if (mode == "Strict" || mode == "Warn" || mode == "Ignore") return mode;
  return Status::BadRequest("fieldValidation: Unsupported value: \"" + mode +
                            "\": supported values: \"Ignore\", \"Strict\", \"Warn\"");
}

// For create and update bodies.
Status ValidateFields(ApiServer::Call& c, JsonDoc& doc, const std::string& api_version, const std::string& kind) {
  MINIK_ASSIGN_OR_RETURN(std::string mode, FieldValidationMode(c));
  MINIK_ASSIGN_OR_RETURN(api::FieldProblems problems, api::PruneUnknownFields(api_version, kind, doc, doc.GetAllocator()));
  if (problems.empty()) return Status::OK();
  if (mode == "Strict") return api::StrictDecodingError(api_version, kind, problems);
  if (mode == "Warn") c.warnings.insert(c.warnings.end(), problems.errors.begin(), problems.errors.end());
  return Status::OK();
}

// For patched objects: upstream reports these as 422 on the field "patch".
Status ValidatePatchedFields(ApiServer::Call& c, JsonDoc& doc, const std::string& api_version, const std::string& kind) {
  MINIK_ASSIGN_OR_RETURN(std::string mode, FieldValidationMode(c));
  std::string patched = ToJson(doc);
  auto invalid = [&](const std::string& text) {
    return api::InvalidError("", "", "", {api::FieldInvalid("patch", api::GoQuote(patched), text)});
  };
  auto problems = api::PruneUnknownFieldsBare(api_version, kind, doc, doc.GetAllocator());
  if (!problems.ok()) return invalid(problems.error().message());
  if (problems->empty()) return Status::OK();
  if (mode == "Strict") return invalid(api::StrictDecodingMessage(*problems));
  if (mode == "Warn") c.warnings.insert(c.warnings.end(), problems->errors.begin(), problems->errors.end());
  return Status::OK();
}

}  // namespace

// ---- create ------------------------------------------------------------------------------

void ApiServer::DoCreate(const CallPtr& c) {
  const auto& info = *c->ri.info;
  if (!c->ri.name.empty()) {
    SendStatus(*c->resp, api::MethodNotSupportedError(info.group, info.plural, "create"));
    return;
  }
  auto body = DecodeBody(*c);
  if (!body.ok()) return SendStatus(*c->resp, body.error());
  DocPtr doc = *body;
  // CheckTypeMeta swaps the document (and its allocator): take the allocator after it.
  if (Status st = CheckTypeMeta(info, *doc, info.kind, info.api_version()); !st.ok()) return SendStatus(*c->resp, st);
  if (Status st = ValidateFields(*c, *doc, info.api_version(), info.kind); !st.ok()) return SendStatus(*c->resp, st);
  auto& a = doc->GetAllocator();
  JsonValue& meta = EnsureObject(*doc, "metadata", a);
  // Namespace.
  std::string ns = MetaString(*doc, "namespace");
  if (info.namespaced) {
    if (ns.empty()) {
      ns = c->ri.namespace_;
      SetString(meta, "namespace", ns, a);
    } else if (!c->ri.namespace_.empty() && ns != c->ri.namespace_) {
      return SendStatus(*c->resp, Status::BadRequest("the namespace of the provided object does not match the namespace sent on the request"));
    }
    if (c->ri.namespace_.empty()) {
      return SendStatus(*c->resp, Status::NotFound("the server could not find the requested resource"));
    }
  } else {
    RemoveMember(meta, "namespace");
  }
  if (!MetaString(*doc, "resourceVersion").empty()) {
    return SendStatus(*c->resp, Status::BadRequest("resourceVersion should not be set on objects to be created"));
  }
  if (IsReview(info)) return SendDoc(*c, 201, AnswerReview(info, *doc, *c, options_.token, sa_tokens_.get()));
  std::string name = MetaString(*doc, "name");
  std::string generate = MetaString(*doc, "generateName");
  if (name.empty() && !generate.empty()) {
    name = api::GenerateName(generate, RandomBits());
    SetString(meta, "name", name, a);
  }
  // BeforeCreate: server-set metadata, then defaults (a Job's selector uses the uid).
  JsonValue& m = EnsureObject(*doc, "metadata", a);
  SetString(m, "uid", NewUuid(), a);
  SetString(m, "creationTimestamp", FormatRFC3339(clock_.Now()), a);
  RemoveMember(m, "deletionTimestamp");
  RemoveMember(m, "deletionGracePeriodSeconds");
  RemoveMember(m, "selfLink");
  api::ApplyDefaults(info, *doc, a);
  if (info.group.empty() && info.kind == "Pod" && RetryForServiceAccount(c, *doc)) return;
  // Mutating admission (LimitRanger defaults, DefaultStorageClass, ServiceAccount).
  if (Status st = admission::Mutate(store_, registry_, info, admission::Operation::kCreate, *doc); !st.ok()) {
    return SendStatus(*c->resp, st);
  }
  PrepareForCreate(info, *doc, a);
  if (Status st = ValidateAll(info, *doc, nullptr); !st.ok()) return SendStatus(*c->resp, st);
  // The namespace must exist and not be terminating.
  if (info.namespaced) {
    const api::ResourceInfo* nsinfo = registry_.Find("", "v1", "namespaces");
    ObjectPtr nso = store_.Get(StorageKey(*nsinfo, "", ns));
    if (!nso) return SendStatus(*c->resp, api::NotFoundError("", "namespaces", ns));
    if (Path(*nso->object, {"metadata", "deletionTimestamp"})) {
      Status st = api::ForbiddenError(info.group, info.plural, name,
                                      "unable to create new content in namespace " + ns + " because it is being terminated");
      // As upstream's NamespaceLifecycle admission: controllers recognize the refusal by this cause.
      StatusDetails d = st.details() ? *st.details() : StatusDetails{};
      d.causes.push_back(StatusCause{"NamespaceTerminating", "namespace " + ns + " is being terminated", "metadata.namespace"});
      st.SetDetails(std::move(d));
      return SendStatus(*c->resp, st);
    }
  }
  // Validating admission (LimitRanger checks, ResourceQuota, which charges the quotas first).
  admission::Validate(store_, registry_, clock_, info, admission::Operation::kCreate, doc, nullptr, c->dry_run,
                      [this, c, doc, &info, ns, name](Status admitted) {
  if (!admitted.ok()) return SendStatus(*c->resp, admitted);
  std::vector<std::string> reserved_ips;
  std::vector<int> reserved_ports;
  if (info.group.empty() && info.kind == "Service") {
    Status st = AllocateServiceAddresses(*doc, nullptr, &reserved_ips, &reserved_ports);
    if (!st.ok()) return SendStatus(*c->resp, st);
  }
  auto release = [this, reserved_ips, reserved_ports]() {
    for (const auto& ip : reserved_ips) allocator_.ReleaseIp(ip);
    for (int p : reserved_ports) allocator_.ReleaseNodePort(p);
  };
  if (c->dry_run) {
    release();
    return SendDoc(*c, 201, *doc);
  }
  std::string key = StorageKey(info, ns, name);
  store_.Create(key, *doc, [c, &info, name, release](StatusOr<ObjectPtr> r) {
    release();
    if (!r.ok()) return SendStatus(*c->resp, MapStoreError(r.error(), info, name));
    SendWritten(*c, 201, *r);
  });
  });
}

// ---- update ------------------------------------------------------------------------------

void ApiServer::DoUpdate(const CallPtr& c) {
  const auto& info = *c->ri.info;
  bool status_only = c->ri.subresource == "status";
  auto body = DecodeBody(*c);
  if (!body.ok()) return SendStatus(*c->resp, body.error());
  DocPtr doc = *body;
  if (Status st = CheckTypeMeta(info, *doc, info.kind, info.api_version()); !st.ok()) return SendStatus(*c->resp, st);
  if (Status st = ValidateFields(*c, *doc, info.api_version(), info.kind); !st.ok()) return SendStatus(*c->resp, st);
  std::string name = MetaString(*doc, "name");
  if (name.empty()) name = c->ri.name;
  if (name != c->ri.name) {
    return SendStatus(*c->resp, Status::BadRequest("the name of the object (" + name +
                                                   ") does not match the name on the URL (" + c->ri.name + ")"));
  }
  auto& a = doc->GetAllocator();
  JsonValue& meta = EnsureObject(*doc, "metadata", a);
  SetString(meta, "name", name, a);
  if (info.namespaced) {
    std::string ns = MetaString(*doc, "namespace");
    if (ns.empty()) SetString(meta, "namespace", c->ri.namespace_, a);
    else if (ns != c->ri.namespace_) {
      return SendStatus(*c->resp, Status::BadRequest("the namespace of the provided object does not match the namespace sent on the request"));
    }
  } else {
    RemoveMember(meta, "namespace");
  }
  std::string key = StorageKey(info, c->ri.namespace_, name);
  ObjectPtr old = store_.Get(key);
  if (!old) return SendStatus(*c->resp, api::NotFoundError(info.group, info.plural, name));
  std::string rv = MetaString(*doc, "resourceVersion");
  if (!rv.empty() && rv != std::to_string(old->kv.mod_revision)) {
    return SendStatus(*c->resp, api::ConflictError(info.group, info.plural, name, api::kOptimisticLockMessage));
  }
  api::ApplyDefaults(info, *doc, a);
  CommitUpdate(c, info, key, old, doc, status_only, [c](StatusOr<ObjectPtr> r) {
    if (!r.ok()) return SendStatus(*c->resp, r.error());
    SendWritten(*c, 200, *r);
  });
}

void ApiServer::CommitUpdate(const CallPtr& c, const api::ResourceInfo& info, const std::string& key, ObjectPtr old,
                             std::shared_ptr<JsonDoc> doc, bool status_only,
                             std::function<void(StatusOr<ObjectPtr>)> done) {
  auto& a = doc->GetAllocator();
  const JsonValue& oldobj = *old->object;
  std::string name = MetaString(oldobj, "name");
  JsonValue& meta = EnsureObject(*doc, "metadata", a);
  // UID precondition, then the fields no update may change.
  std::string uid = MetaString(*doc, "uid");
  std::string old_uid = MetaString(oldobj, "uid");
  if (!uid.empty() && uid != old_uid) {
    return done(api::ConflictError(info.group, info.plural, name,
                                   "Precondition failed: UID in precondition: " + uid + ", UID in object meta: " + old_uid));
  }
  const JsonValue* oldmeta = Member(oldobj, "metadata");
  for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"}) {
    if (const JsonValue* v = Member(*oldmeta, f)) SetMember(meta, f, Clone(*v, a), a);
    else RemoveMember(meta, f);
  }
  RemoveMember(meta, "selfLink");
  PrepareForUpdate(info, *doc, oldobj, status_only, a);
  JsonValue& meta2 = EnsureObject(*doc, "metadata", a);
  RemoveMember(meta2, "resourceVersion");
  if (Status st = ValidateAll(info, *doc, &oldobj); !st.ok()) return done(st);
  bool deleting = Member(meta2, "deletionTimestamp") != nullptr;
  if (deleting) {
    // No new finalizers once deletion started.
    std::set<std::string> before;
    if (const JsonValue* f = Member(*oldmeta, "finalizers"); f && f->IsArray()) {
      for (const auto& x : f->GetArray()) if (x.IsString()) before.insert(x.GetString());
    }
    if (const JsonValue* f = Member(meta2, "finalizers"); f && f->IsArray()) {
      for (const auto& x : f->GetArray()) {
        if (x.IsString() && !before.count(x.GetString())) {
          return done(Invalid(info, name, {api::FieldForbidden("metadata.finalizers", "no new finalizers can be added if the object is being deleted")}));
        }
      }
    }
  }
  // Validating admission (LimitRanger checks, ResourceQuota), then the write.
  auto commit = [this, c, &info, key, old, doc, status_only, done, name]() {
  const JsonValue& oldobj = *old->object;
  JsonValue& meta2 = EnsureObject(*doc, "metadata", doc->GetAllocator());
  bool deleting = Member(meta2, "deletionTimestamp") != nullptr;
  std::vector<std::string> reserved_ips;
  std::vector<int> reserved_ports;
  if (info.group.empty() && info.kind == "Service" && !status_only) {
    Status st = AllocateServiceAddresses(*doc, &oldobj, &reserved_ips, &reserved_ports);
    if (!st.ok()) return done(st);
  }
  auto release = [this, reserved_ips, reserved_ports]() {
    for (const auto& ip : reserved_ips) allocator_.ReleaseIp(ip);
    for (int p : reserved_ports) allocator_.ReleaseNodePort(p);
  };
  // A no-op update writes nothing and returns the stored object.
  {
    if (SameAsStored(oldobj, *doc)) {
      release();
      return done(old);
    }
  }
  if (c && c->dry_run) {
    release();
    auto o = MakeStoredObject(key, old->kv.mod_revision, doc);
    return done(o);
  }
  // Finalization complete: the object goes away.
  const JsonValue* fins = Member(meta2, "finalizers");
  bool no_finalizers = !fins || !fins->IsArray() || fins->Empty();
  bool graceful_pending = false;
  if (info.group.empty() && info.kind == "Pod") {
    const JsonValue* g = Member(meta2, "deletionGracePeriodSeconds");
    graceful_pending = g && g->IsInt64() && g->GetInt64() > 0;
  }
  if (deleting && no_finalizers && !graceful_pending) {
    release();
    store_.Delete(key, old->kv.mod_revision, [done, &info, name](StatusOr<ObjectPtr> r) {
      if (!r.ok()) return done(MapStoreError(r.error(), info, name));
      done(*r);
    });
    return;
  }
  store_.Update(key, *doc, old->kv.mod_revision, [done, &info, name, release](StatusOr<ObjectPtr> r) {
    release();
    if (!r.ok()) return done(MapStoreError(r.error(), info, name));
    done(*r);
  });
  };
  if (status_only) return commit();
  admission::Validate(store_, registry_, clock_, info, admission::Operation::kUpdate, doc, old->object,
                      c && c->dry_run, [commit, done](Status admitted) {
                        if (!admitted.ok()) return done(admitted);
                        commit();
                      });
}

// ---- patch -------------------------------------------------------------------------------

void ApiServer::DoPatch(const CallPtr& c) {
  const std::string* ct = c->req.Header("content-type");
  std::string type = ct ? std::string(Trim(Split(*ct, ';')[0])) : "";
  if (type != "application/json-patch+json" && type != "application/merge-patch+json" &&
      type != "application/strategic-merge-patch+json") {
    return SendStatus(*c->resp, Status::UnsupportedMediaType(
                                    "the body of the request was in an unknown format - accepted media types include: "
                                    "application/json-patch+json, application/merge-patch+json, "
                                    "application/strategic-merge-patch+json"));
  }
  PatchAttempt(c, 0);
}

void ApiServer::PatchAttempt(const CallPtr& c, int tries) {
  const auto& info = *c->ri.info;
  const std::string* ct = c->req.Header("content-type");
  std::string type = ct ? std::string(Trim(Split(*ct, ';')[0])) : "";
  bool status_only = c->ri.subresource == "status";
  std::string key = StorageKey(info, c->ri.namespace_, c->ri.name);
  ObjectPtr old = store_.Get(key);
  if (!old) return SendStatus(*c->resp, api::NotFoundError(info.group, info.plural, c->ri.name));
  StatusOr<JsonDoc> patched = Status::Internal("unreachable");
  if (type == "application/json-patch+json") patched = api::ApplyJsonPatch(*old->object, c->req.body);
  else if (type == "application/merge-patch+json") patched = api::ApplyMergePatch(*old->object, c->req.body);
  else patched = api::ApplyStrategicMergePatch(*old->object, c->req.body, info.api_version(), info.kind);
  if (!patched.ok()) return SendStatus(*c->resp, patched.error());
  auto doc = std::make_shared<JsonDoc>(std::move(*patched));
  if (!doc->IsObject()) return SendStatus(*c->resp, Status::BadRequest("the patched object is not a JSON object"));
  if (Status st = CheckTypeMeta(info, *doc, info.kind, info.api_version()); !st.ok()) return SendStatus(*c->resp, st);
  if (tries == 0) c->warnings.clear();
  if (Status st = ValidatePatchedFields(*c, *doc, info.api_version(), info.kind); !st.ok()) return SendStatus(*c->resp, st);
  std::string name = MetaString(*doc, "name");
  if (name != c->ri.name) {
    return SendStatus(*c->resp, Status::BadRequest("the name of the object (" + name +
                                                   ") does not match the name on the URL (" + c->ri.name + ")"));
  }
  // A resourceVersion in the patch is a precondition; otherwise the patch applies to the latest.
  std::string rv = MetaString(*doc, "resourceVersion");
  if (!rv.empty() && rv != std::to_string(old->kv.mod_revision)) {
    return SendStatus(*c->resp, api::ConflictError(info.group, info.plural, name, api::kOptimisticLockMessage));
  }
  bool precondition = !rv.empty();
  api::ApplyDefaults(info, *doc, doc->GetAllocator());
  CommitUpdate(c, info, key, old, doc, status_only, [this, c, tries, precondition](StatusOr<ObjectPtr> r) {
    // Without a precondition a patch re-applies to the newest object when it lost a race.
    if (!r.ok() && r.error().code() == Code::kConflict && !precondition && tries < 5) return PatchAttempt(c, tries + 1);
    if (!r.ok()) return SendStatus(*c->resp, r.error());
    SendWritten(*c, 200, *r);
  });
}

// ---- delete ------------------------------------------------------------------------------

namespace {

using DeleteOptions = ApiServer::DeleteOptions;

StatusOr<DeleteOptions> ParseDeleteOptions(const ApiServer::Call& c) {
  DeleteOptions o;
  if (!Trim(c.req.body).empty()) {
    auto doc = DecodeRequestBody(c.req);
    if (!doc.ok()) return doc.error();
    if (auto g = GetInt(*doc, "gracePeriodSeconds")) o.grace = *g;
    if (auto p = GetString(*doc, "propagationPolicy")) o.propagation = std::string(*p);
    if (auto orphan = GetBool(*doc, "orphanDependents")) o.propagation = *orphan ? "Orphan" : "Background";
    if (const JsonValue* pre = Member(*doc, "preconditions")) {
      if (auto u = GetString(*pre, "uid")) o.precondition_uid = std::string(*u);
      if (auto r = GetString(*pre, "resourceVersion")) o.precondition_rv = std::string(*r);
    }
  }
  if (c.HasParam("gracePeriodSeconds")) {
    int64_t g;
    if (!ParseInt64(c.Param("gracePeriodSeconds"), &g)) return Status::BadRequest("invalid gracePeriodSeconds");
    o.grace = g;
  }
  if (c.HasParam("propagationPolicy")) o.propagation = c.Param("propagationPolicy");
  if (c.HasParam("orphanDependents")) o.propagation = c.BoolParam("orphanDependents") ? "Orphan" : "Background";
  if (!o.propagation.empty() && o.propagation != "Orphan" && o.propagation != "Background" && o.propagation != "Foreground") {
    return Status::BadRequest("propagationPolicy: Unsupported value: \"" + o.propagation + "\": supported values: \"Foreground\", \"Background\", \"Orphan\"");
  }
  return o;
}

}  // namespace

void ApiServer::DoDelete(const CallPtr& c) {
  const auto& info = *c->ri.info;
  auto opts = ParseDeleteOptions(*c);
  if (!opts.ok()) return SendStatus(*c->resp, opts.error());
  DeleteLatest(info, StorageKey(info, c->ri.namespace_, c->ri.name), c->ri.name, *opts, c->dry_run,
               [c, &info](StatusOr<ObjectPtr> r, bool deleted) {
                 if (!r.ok()) return SendStatus(*c->resp, r.error());
                 if (!deleted || ReturnsDeletedObject(info)) return SendWritten(*c, 200, *r);
                 SendJson(*c->resp, 200, DeleteSuccessJson(info, c->ri.name, MetaString(*(*r)->object, "uid")));
               });
}

void ApiServer::DeleteLatest(const api::ResourceInfo& info, const std::string& key, const std::string& name,
                             const DeleteOptions& opts, bool dry_run,
                             std::function<void(StatusOr<ObjectPtr>, bool deleted)> done, int tries) {
  ObjectPtr existing = store_.Get(key);
  if (!existing) return done(api::NotFoundError(info.group, info.plural, name), false);
  std::string uid = MetaString(*existing->object, "uid");
  if (!opts.precondition_uid.empty() && opts.precondition_uid != uid) {
    return done(api::ConflictError(info.group, info.plural, name,
                                   "Precondition failed: UID in precondition: " + opts.precondition_uid +
                                       ", UID in object meta: " + uid),
                false);
  }
  std::string rv = std::to_string(existing->kv.mod_revision);
  if (!opts.precondition_rv.empty() && opts.precondition_rv != rv) {
    return done(api::ConflictError(info.group, info.plural, name,
                                   "Precondition failed: ResourceVersion in precondition: " + opts.precondition_rv +
                                       ", ResourceVersion in object meta: " + rv),
                false);
  }
  DeleteObject(info, key, existing, opts.grace, opts.propagation, dry_run,
               [this, &info, key, name, opts, dry_run, done, tries](StatusOr<ObjectPtr> r, bool deleted) {
                 if (!r.ok() && r.error().code() == Code::kConflict && opts.precondition_rv.empty() && tries < 5) {
                   return DeleteLatest(info, key, name, opts, dry_run, done, tries + 1);
                 }
                 done(std::move(r), deleted);
               });
}

void ApiServer::DeleteObject(const api::ResourceInfo& info, const std::string& key, ObjectPtr existing, int64_t grace,
                             const std::string& propagation, bool dry_run,
                             std::function<void(StatusOr<ObjectPtr>, bool deleted)> done) {
  const JsonValue& obj = *existing->object;
  std::string name = MetaString(obj, "name");
  auto doc = std::make_shared<JsonDoc>();
  doc->CopyFrom(obj, doc->GetAllocator());
  auto& a = doc->GetAllocator();
  JsonValue& meta = EnsureObject(*doc, "metadata", a);
  RemoveMember(meta, "resourceVersion");
  bool is_pod = info.group.empty() && info.kind == "Pod";
  bool is_ns = info.group.empty() && info.kind == "Namespace";
  // Graceful deletion of pods (pod strategy CheckGracefulDelete).
  int64_t grace_secs = 0;
  if (is_pod) {
    grace_secs = grace;
    if (grace_secs < 0) {
      auto tg = Path(obj, {"spec", "terminationGracePeriodSeconds"});
      grace_secs = tg && tg->IsInt64() ? tg->GetInt64() : 30;
    }
    const JsonValue* node = Path(obj, {"spec", "nodeName"});
    auto phase = Path(obj, {"status", "phase"});
    bool terminal = phase && phase->IsString() &&
                    (std::string_view(phase->GetString()) == "Failed" || std::string_view(phase->GetString()) == "Succeeded");
    if (!node || !node->IsString() || node->GetStringLength() == 0 || terminal) grace_secs = 0;
    if (grace_secs > 0 && grace < 0) {
      // Keep an already shorter grace period.
      if (const JsonValue* g = Member(meta, "deletionGracePeriodSeconds"); g && g->IsInt64() && g->GetInt64() < grace_secs) {
        grace_secs = g->GetInt64();
      }
    }
  }
  // Finalizers from the propagation policy.
  std::vector<std::string> fins;
  if (const JsonValue* f = Member(meta, "finalizers"); f && f->IsArray()) {
    for (const auto& x : f->GetArray()) if (x.IsString()) fins.emplace_back(x.GetString());
  }
  auto has = [&](const std::string& s) { return std::find(fins.begin(), fins.end(), s) != fins.end(); };
  auto drop = [&](const std::string& s) { fins.erase(std::remove(fins.begin(), fins.end(), s), fins.end()); };
  if (propagation == "Orphan") {
    drop("foregroundDeletion");
    if (!has("orphan")) fins.push_back("orphan");
  } else if (propagation == "Foreground") {
    drop("orphan");
    if (!has("foregroundDeletion")) fins.push_back("foregroundDeletion");
  } else if (propagation == "Background") {
    drop("orphan");
    drop("foregroundDeletion");
  }
  bool ns_pending = false;
  if (is_ns) {
    const JsonValue* sf = Path(obj, {"spec", "finalizers"});
    ns_pending = sf && sf->IsArray() && !sf->Empty();
  }
  bool already_deleting = Member(meta, "deletionTimestamp") != nullptr;
  bool must_wait = !fins.empty() || ns_pending || grace_secs > 0;
  if (!must_wait) {
    if (dry_run) return done(existing, true);
    store_.Delete(key, existing->kv.mod_revision, [done, &info, name](StatusOr<ObjectPtr> r) {
      if (!r.ok()) return done(MapStoreError(r.error(), info, name), true);
      done(*r, true);
    });
    return;
  }
  // Mark for deletion: deletionTimestamp (+ grace), the finalizers, Terminating for namespaces.
  JsonValue farr(rapidjson::kArrayType);
  for (const auto& f : fins) farr.PushBack(MakeString(f, a), a);
  if (fins.empty()) RemoveMember(meta, "finalizers");
  else SetMember(meta, "finalizers", std::move(farr), a);
  if (!already_deleting || (is_pod && grace >= 0)) {
    TimePoint when = clock_.Now() + std::chrono::seconds(grace_secs);
    SetString(meta, "deletionTimestamp", FormatRFC3339(when), a);
    SetMember(meta, "deletionGracePeriodSeconds", JsonValue(static_cast<int64_t>(grace_secs)), a);
    if (!already_deleting && HasGeneration(info)) {
      int64_t gen = 1;
      if (const JsonValue* g = Member(meta, "generation"); g && g->IsInt64()) gen = g->GetInt64();
      SetMember(meta, "generation", JsonValue(gen + 1), a);
    }
  }
  if (is_ns) SetString(EnsureObject(*doc, "status", a), "phase", "Terminating", a);
  if (dry_run) {
    auto o = MakeStoredObject(key, existing->kv.mod_revision, doc);
    return done(o, false);
  }
  {
    if (SameAsStored(obj, *doc)) return done(existing, false);
  }
  store_.Update(key, *doc, existing->kv.mod_revision, [this, done, &info, name, is_ns](StatusOr<ObjectPtr> r) {
    if (!r.ok()) return done(MapStoreError(r.error(), info, name), false);
    if (is_ns) {
      terminating_namespaces_.insert(name);
      CheckTerminatingNamespaces();
    }
    done(*r, false);
  });
}

void ApiServer::DoDeleteCollection(const CallPtr& c) {
  const auto& info = *c->ri.info;
  auto filter = MakeListFilter(info, c->Param("labelSelector"), c->Param("fieldSelector"));
  if (!filter.ok()) return SendStatus(*c->resp, filter.error());
  auto opts = ParseDeleteOptions(*c);
  if (!opts.ok()) return SendStatus(*c->resp, opts.error());
  auto keep = [&](const StoredObject& o) { return (*filter)(*o.object); };
  auto page = store_.List(StoragePrefix(info, c->ri.namespace_), "", 0, keep);
  struct State {
    size_t pending = 0;
    std::vector<ObjectPtr> results;
    Status error;
  };
  auto st = std::make_shared<State>();
  st->pending = page.items.size() + 1;
  auto finish = [c, &info, st, rev = page.revision]() {
    if (--st->pending > 0) return;
    if (!st->error.ok()) return SendStatus(*c->resp, st->error);
    std::string body = "{\"kind\":\"" + info.list_kind() + "\",\"apiVersion\":\"" + info.api_version() +
                       "\",\"metadata\":{\"resourceVersion\":\"" + std::to_string(rev) + "\"},\"items\":[";
    for (size_t i = 0; i < st->results.size(); ++i) {
      if (i) body += ',';
      AppendObjectJson(*st->results[i]->object, true, &body);
    }
    body += "]}";
    SendJson(*c->resp, 200, std::move(body));
  };
  for (const auto& o : page.items) {
    DeleteLatest(info, o->kv.key, MetaString(*o->object, "name"), *opts, c->dry_run,
                 [st, finish](StatusOr<ObjectPtr> r, bool) {
                   if (r.ok()) st->results.push_back(*r);
                   else if (r.error().code() != Code::kNotFound && st->error.ok()) st->error = r.error();
                   finish();
                 });
  }
  finish();
}

}  // namespace minik::server
