#include "server/api_server.h"

#include <rapidjson/writer.h>

#include "api/errors.h"
#include "api/fields.h"
#include "api/labels.h"
#include "api/protobuf.h"
#include "common/yaml.h"
#include "api/table.h"
#include "common/log.h"
#include "common/strings.h"
#include "server/api_call.h"
#include "server/discovery.h"
#include "server/list_filter.h"
#include "server/service_account_tokens.h"
#include "server/metrics_api.h"
#include "server/node_proxy.h"
#include "server/streaming.h"

namespace minik::server {

std::string StorageKey(const api::ResourceInfo& info, const std::string& ns, const std::string& name) {
  std::string k = "/" + info.group_resource() + "/";
  if (info.namespaced) k += ns + "/";
  return k + name;
}

std::string StoragePrefix(const api::ResourceInfo& info, const std::string& ns) {
  std::string k = "/" + info.group_resource() + "/";
  if (info.namespaced && !ns.empty()) k += ns + "/";
  return k;
}

void GoEscapeHtml(std::string* json) {
  // Go's encoding/json writes <, > and & as \u003c, \u003e and \u0026. In JSON text these
  // bytes can only occur inside strings, so a byte-wise rewrite is exact.
  size_t n = 0;
  for (char ch : *json) n += (ch == '<' || ch == '>' || ch == '&');
  if (n == 0) return;
  std::string out;
  out.reserve(json->size() + n * 5);
  for (char ch : *json) {
    if (ch == '<') out += "\\u003c";
    else if (ch == '>') out += "\\u003e";
    else if (ch == '&') out += "\\u0026";
    else out += ch;
  }
  json->swap(out);
}

void SendJson(http::ResponseWriter& resp, int code, std::string body, const char* content_type,
              const std::vector<std::string>& warnings) {
  GoEscapeHtml(&body);
  http::ResponseWriter::Headers h = {{"Content-Type", content_type}, {"Cache-Control", "no-cache, private"}};
  for (const auto& w : warnings) {
    // The text is a quoted string in the header (RFC 7234): escape quotes and backslashes.
    std::string q;
    for (char ch : w) {
      if (ch == '"' || ch == '\\') q += '\\';
      q += ch;
    }
    h.emplace_back("Warning", "299 - \"" + q + "\"");
  }
  resp.Send(code, h, std::move(body));
}

StatusOr<JsonDoc> DecodeRequestBody(const http::Request& req) {
  const std::string* ct = req.Header("content-type");
  std::string type = ct ? std::string(Trim(Split(*ct, ';')[0])) : "application/json";
  if (api::IsProtobufContentType(type)) return api::DecodeProtobufObject(req.body);
  if (type == "application/yaml" || type == "application/x-yaml" || type == "text/yaml") {
    auto y = YamlToJson(req.body);
    if (!y.ok()) return Status::BadRequest("the body of the request could not be decoded: " + y.error().message());
    return y;
  }
  if (type == "application/json" || type == "*/*" || type.empty()) {
    auto j = ParseJson(req.body);
    if (!j.ok()) return Status::BadRequest("couldn't get version/kind; json parse error: " + j.error().message());
    return j;
  }
  return Status::UnsupportedMediaType(
      "the body of the request was in an unknown format - accepted media types include: application/json, "
      "application/yaml, application/vnd.kubernetes.protobuf");
}

void SendStatus(http::ResponseWriter& resp, const Status& status) {
  SendJson(resp, api::HttpCode(status), api::StatusJson(status));
}

void AppendObjectJson(const JsonValue& obj, bool without_type, std::string* out) {
  if (!without_type || !obj.IsObject()) {
    AppendJson(obj, out);
    return;
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
    std::string_view n(it->name.GetString(), it->name.GetStringLength());
    if (n == "apiVersion" || n == "kind") continue;
    w.Key(it->name.GetString(), it->name.GetStringLength());
    it->value.Accept(w);
  }
  w.EndObject();
  out->append(buf.GetString(), buf.GetSize());
}

ApiServer::ApiServer(http::Loop& loop, ObjectStore& store, const api::Registry& registry, const Clock& clock,
                     ApiServerOptions options)
    : loop_(loop), store_(store), registry_(registry), clock_(clock), options_(std::move(options)) {
  auto a = ServiceAllocator::Create(options_.service_cidr);
  if (a.ok()) allocator_ = std::move(*a);
  if (!options_.service_account_key_pem.empty()) {
    auto key = pki::JwtKey::Load(options_.service_account_key_pem);
    if (key.ok()) sa_tokens_ = std::make_unique<ServiceAccountTokens>(store_, registry_, clock_, std::move(*key));
    else MINIK_LOG(Error) << "service account key: " << key.error().ToString();
  }
}

ApiServer::~ApiServer() = default;

namespace {

// Parses the Accept header for a Table request ("application/json;as=Table;v=v1;g=meta.k8s.io").
void NegotiateAccept(ApiServer::Call& c) {
  const std::string* accept = c.req.Header("accept");
  if (!accept) return;
  for (auto part : Split(*accept, ',')) {
    auto params = Split(part, ';');
    bool as_table = false, meta = false;
    std::string version;
    for (auto p : params) {
      p = Trim(p);
      if (p == "as=Table") as_table = true;
      else if (p == "g=meta.k8s.io") meta = true;
      else if (p.rfind("v=", 0) == 0) version = std::string(p.substr(2));
    }
    if (as_table && meta && (version == "v1" || version == "v1beta1")) {
      c.table = true;
      c.table_version = version;
      return;
    }
    std::string_view mt = Trim(params[0]);
    if (mt == "application/json" || mt == "*/*" || mt == "application/*") return;
  }
}

}  // namespace

void ApiServer::Handle(http::Request& req, http::ResponseWriterPtr resp) {
  auto c = std::make_shared<Call>();
  c->req = std::move(req);
  c->resp = std::move(resp);
  // Authentication: a verified client certificate, or the bearer token.
  if (c->req.peer.verified) {
    c->user = c->req.peer.common_name;
    c->groups = c->req.peer.organizations;
  } else if (const std::string* auth = c->req.Header("authorization")) {
    if (auth->rfind("Bearer ", 0) == 0 && !options_.token.empty() &&
        std::string_view(*auth).substr(7) == options_.token) {
      c->user = "minik:token";
    } else if (auth->rfind("Bearer ", 0) == 0) {
      AuthenticateBearer(std::string_view(*auth).substr(7), *c);
    }
  }
  if (!c->user.empty()) c->groups.push_back("system:authenticated");
  // The cluster CA, for agents joining with a token (k3s's /cacerts): public, and pinned by the
  // hash in the token on the agent's side.
  if (c->req.path == "/cacerts" && c->req.method == "GET" && !options_.ca_pem.empty()) {
    c->resp->Send(200, {{"Content-Type", "text/plain; charset=utf-8"}}, options_.ca_pem);
    return;
  }
  MINIK_LOG(Debug) << c->req.method << " " << c->req.target << " user=" << (c->user.empty() ? "<none>" : c->user);
  if (c->user.empty()) {
    SendStatus(*c->resp, Status::Unauthorized("Unauthorized"));
    return;
  }
  Dispatch(c);
}

void ApiServer::HandleInternal(http::Request& req, http::ResponseWriterPtr resp) {
  auto c = std::make_shared<Call>();
  c->req = std::move(req);
  c->resp = std::move(resp);
  c->user = "system:admin";
  c->groups = {"system:masters", "system:authenticated"};
  Dispatch(c);
}

void ApiServer::Dispatch(const CallPtr& c) {
  for (auto& [k, v] : http::ParseQuery(c->req.query)) c->query.emplace(k, v);
  auto ri = ParseRequestInfo(registry_, c->req.method, c->req.path, c->BoolParam("watch"));
  if (!ri.ok()) {
    SendStatus(*c->resp, ri.error());
    return;
  }
  c->ri = std::move(*ri);
  if (streaming_ && c->req.path == http::tunnel::proto::kPath) {
    return streaming_->ServeTunnel(c->req, c->resp, c->user, c->groups);
  }
  if (!c->ri.is_resource) {
    ServeNonResource(c);
    return;
  }
  if (metrics_api_ && c->ri.group == "metrics.k8s.io") {
    NegotiateAccept(*c);
    auto body = metrics_api_->Handle(c->ri, c->Param("labelSelector"), c->Param("fieldSelector"), c->table);
    if (body.ok()) SendJson(*c->resp, 200, std::move(*body), c->table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json");
    else SendStatus(*c->resp, body.error());
    return;
  }
  if (MaybeConvert(c)) return;
  NegotiateAccept(*c);
  for (auto it = c->query.equal_range("dryRun"); it.first != it.second; ++it.first) {
    if (it.first->second == "All") c->dry_run = true;
    else {
      SendStatus(*c->resp, Status::BadRequest("Invalid dryRun value \"" + it.first->second + "\": supported values: \"All\""));
      return;
    }
  }
  const auto& info = *c->ri.info;
  const std::string& verb = c->ri.verb;
  bool allowed = c->ri.subresource.empty() ? info.HasVerb(verb == "watch" && !c->ri.name.empty() ? "watch" : verb)
                                            : true;
  if (!allowed) {
    SendStatus(*c->resp, api::MethodNotSupportedError(info.group, info.plural, verb));
    return;
  }
  const std::string& sub = c->ri.subresource;
  if (!sub.empty()) {
    const api::SubresourceInfo* s = info.FindSubresource(sub);
    std::string sverb = verb == "get" ? "get" : verb;
    bool ok = false;
    for (const auto& v : s->verbs) ok = ok || v == sverb;
    if (!ok) {
      SendStatus(*c->resp, api::MethodNotSupportedError(info.group, info.plural + "/" + sub, verb));
      return;
    }
    if (node_proxy_ && sub == "proxy" && info.group.empty() && info.plural == "nodes") {
      std::string path;
      for (const auto& e : c->ri.extra) path += "/" + e;
      if (!c->ri.extra.empty() && c->req.path.back() == '/') path += "/";
      return node_proxy_->Serve(c->ri.name, c->req.method, path, c->req.query, c->resp);
    }
    if (sub == "binding") return DoBinding(c);
    if (sub == "scale") return DoScale(c);
    if (sub == "eviction") return DoEviction(c);
    if (sub == "token") return DoTokenRequest(c);
    if (streaming_ && info.group.empty() && info.plural == "pods" &&
        (sub == "log" || sub == "exec" || sub == "attach" || sub == "portforward")) {
      return streaming_->ServePod(sub, c->ri.namespace_, c->ri.name, c->req, c->query, c->resp);
    }
    if (sub != "status") {
      SendStatus(*c->resp, Status::NotFound("the server could not find the requested resource"));
      return;
    }
  }
  if (verb == "get") return DoGet(c);
  if (verb == "list") return DoList(c);
  if (verb == "watch") return DoWatch(c);
  if (verb == "create") return DoCreate(c);
  if (verb == "update") return DoUpdate(c);
  if (verb == "patch") return DoPatch(c);
  if (verb == "delete") return DoDelete(c);
  if (verb == "deletecollection") return DoDeleteCollection(c);
  SendStatus(*c->resp, api::MethodNotSupportedError(info.group, info.plural, verb));
}

void ApiServer::ServeNonResource(const CallPtr& c) {
  const std::string& p = c->req.path;
  if (c->req.method != "GET" && c->req.method != "HEAD") {
    SendStatus(*c->resp, Status::NotFound("the server could not find the requested resource"));
    return;
  }
  if (p == "/healthz" || p == "/livez" || p == "/readyz" || p.rfind("/healthz/", 0) == 0 ||
      p.rfind("/livez/", 0) == 0 || p.rfind("/readyz/", 0) == 0) {
    // Only readiness depends on anything: the bootstrap objects being in place.
    bool ok = p.rfind("/readyz", 0) != 0 || ready_;
    std::string check = p.substr(1, p.find('/', 1) == std::string::npos ? std::string::npos : p.find('/', 1) - 1);
    std::string body;
    if (c->HasParam("verbose")) {
      body = "[+]ping ok\n[+]etcd ok\n";
      body += ok ? "[+]poststarthook/bootstrap ok\n" : "[-]poststarthook/bootstrap failed: not finished\n";
      body += check + (ok ? " check passed\n" : " check failed\n");
    } else {
      body = ok ? "ok" : "[-]poststarthook/bootstrap failed: not finished\n" + check + " check failed";
    }
    c->resp->Send(ok ? 200 : 500, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(body));
    return;
  }
  if (ServeOidc(c)) return;
  const std::string* accept = c->req.Header("accept");
  DiscoveryResponse d = ServeDiscovery(registry_, p, accept ? *accept : "", options_.advertise_address, options_.port);
  if (d.code == 404) {
    SendStatus(*c->resp, Status::NotFound("the server could not find the requested resource"));
    return;
  }
  http::ResponseWriter::Headers h = {{"Content-Type", d.content_type}, {"Cache-Control", "no-cache, private"}};
  if (!d.etag.empty()) h.emplace_back("Etag", "\"" + d.etag + "\"");
  h.emplace_back("Vary", "Accept");
  c->resp->Send(d.code, h, std::move(d.body));
}

// ---- reads -------------------------------------------------------------------------------

namespace {

std::string RvString(int64_t rv) { return std::to_string(rv); }

}  // namespace

namespace {

// ComponentStatus is computed, not stored: the control plane's parts live in this process, so
// they are healthy whenever the API answers (upstream probes scheduler, controller-manager, etcd).
ObjectPtr ComponentStatus(const std::string& name, int64_t revision) {
  auto doc = std::make_shared<JsonDoc>();
  auto parsed = ParseJson("{\"kind\":\"ComponentStatus\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"" + name +
                          "\"},\"conditions\":[{\"type\":\"Healthy\",\"status\":\"True\",\"message\":\"ok\"}]}");
  *doc = std::move(*parsed);
  return MakeStoredObject("/componentstatuses/" + name, revision, std::move(doc));
}

std::vector<ObjectPtr> ComponentStatuses(int64_t revision) {
  return {ComponentStatus("controller-manager", revision), ComponentStatus("etcd-0", revision),
          ComponentStatus("scheduler", revision)};
}

bool IsComponentStatus(const api::ResourceInfo& info) { return info.group.empty() && info.kind == "ComponentStatus"; }

// Upstream's deprecation warnings for a resource.
std::vector<std::string> Deprecation(const api::ResourceInfo& info) {
  if (IsComponentStatus(info)) return {"v1 ComponentStatus is deprecated in v1.19+"};
  return {};
}

const char* TableType(const std::string& version) {
  return version == "v1" ? "application/json;as=Table;v=v1;g=meta.k8s.io"
                         : "application/json;as=Table;v=v1beta1;g=meta.k8s.io";
}

}  // namespace

void ApiServer::DoGet(const CallPtr& c) {
  const auto& info = *c->ri.info;
  ObjectPtr obj;
  if (IsComponentStatus(info)) {
    for (auto& cs : ComponentStatuses(store_.revision())) {
      if (cs->kv.key == "/componentstatuses/" + c->ri.name) obj = cs;
    }
  } else {
    obj = store_.Get(StorageKey(info, c->ri.namespace_, c->ri.name));
  }
  if (!obj) {
    SendStatus(*c->resp, api::NotFoundError(info.group, info.plural, c->ri.name));
    return;
  }
  if (c->table) {
    std::string include = c->Param("includeObject");
    SendJson(*c->resp, 200, EncodeTable(info, {obj}, RvString(obj->kv.mod_revision), "", -1, include, clock_.Now(), true),
             TableType(c->table_version), Deprecation(info));
    return;
  }
  std::string body;
  AppendObjectJson(*obj->object, false, &body);
  SendJson(*c->resp, 200, std::move(body), "application/json", Deprecation(info));
}

void ApiServer::DoList(const CallPtr& c) {
  const auto& info = *c->ri.info;
  auto filter = MakeListFilter(info, c->Param("labelSelector"), c->Param("fieldSelector"));
  if (!filter.ok()) {
    SendStatus(*c->resp, filter.error());
    return;
  }
  int64_t limit = 0;
  if (c->HasParam("limit") && !ParseInt64(c->Param("limit"), &limit)) limit = 0;
  if (limit < 0) limit = 0;
  std::string prefix = StoragePrefix(info, c->ri.namespace_);
  std::string start_after;
  int64_t at_revision = 0;
  std::string cont = c->Param("continue");
  if (!cont.empty()) {
    auto token = DecodeContinue(cont, prefix);
    if (!token.ok()) {
      SendStatus(*c->resp, token.error());
      return;
    }
    start_after = prefix + token->start;
    at_revision = token->revision;
  }
  ObjectStore::Page page;
  std::function<bool(const StoredObject&)> keep;
  if (!filter->selects_all) keep = [&](const StoredObject& o) { return (*filter)(*o.object); };
  if (at_revision > 0 && at_revision != store_.revision()) {
    auto p = store_.ListAt(prefix, start_after, limit, at_revision, keep);
    if (!p.ok()) {
      if (p.error().code() == Code::kExpired || p.error().code() == Code::kGone) {
        // As upstream: 410 with a token that continues inconsistently from the newest state.
        std::string token = EncodeContinue(-1, start_after.substr(prefix.size()));
        std::string msg =
            "The provided continue parameter is too old to display a consistent list result. You can start a new "
            "list without the continue parameter, or use the continue token in this response to retrieve the "
            "remainder of the results. Continuing with the provided token results in an inconsistent list - "
            "objects that were created, modified, or deleted between the time the first chunk was returned and "
            "now may show up in the list.";
        std::string body = api::StatusJson(Status::Expired(msg));
        body.replace(body.find("\"metadata\":{}"), 13, "\"metadata\":{\"continue\":\"" + token + "\"}");
        SendJson(*c->resp, 410, std::move(body));
      } else {
        SendStatus(*c->resp, p.error());
      }
      return;
    }
    page = std::move(*p);
  } else if (IsComponentStatus(info)) {
    page.revision = store_.revision();
    for (auto& cs : ComponentStatuses(page.revision)) {
      if (!keep || keep(*cs)) page.items.push_back(cs);
    }
  } else {
    page = ListKept(store_, prefix, !info.namespaced || !c->ri.namespace_.empty(), start_after, limit, *filter);
    if (at_revision > 0) page.revision = at_revision;
  }
  std::string next;
  if (page.more && !page.items.empty()) {
    next = EncodeContinue(page.revision, page.last_key.substr(prefix.size()));
  }
  int64_t remaining = page.more && !filter->selects_all ? -1 : page.remaining;
  if (c->table) {
    SendJson(*c->resp, 200,
             EncodeTable(info, page.items, RvString(page.revision), next, page.more ? remaining : -1,
                         c->Param("includeObject"), clock_.Now(), true),
             TableType(c->table_version), Deprecation(info));
    return;
  }
  std::string body;
  body.reserve(256 + page.items.size() * 512);
  body += "{\"kind\":\"" + info.list_kind() + "\",\"apiVersion\":\"" + info.api_version() +
          "\",\"metadata\":{\"resourceVersion\":\"" + RvString(page.revision) + "\"";
  if (!next.empty()) {
    body += ",\"continue\":\"" + next + "\"";
    if (remaining > 0) body += ",\"remainingItemCount\":" + std::to_string(remaining);
  }
  body += "},\"items\":[";
  for (size_t i = 0; i < page.items.size(); ++i) {
    if (i) body += ',';
    AppendObjectJson(*page.items[i]->object, true, &body);
  }
  body += "]}";
  SendJson(*c->resp, 200, std::move(body), "application/json", Deprecation(info));
}

}  // namespace minik::server
