#include "agent/kubelet/probes.h"

namespace minik::agent::kubelet {
namespace {

std::string Str(const JsonValue* v) { return v && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : ""; }

std::string PortText(const JsonValue* v) {
  if (!v) return "";
  if (v->IsInt64()) return std::to_string(v->GetInt64());
  return Str(v);
}

}  // namespace

Handler ParseHandler(const JsonValue& v) {
  Handler h;
  if (const JsonValue* e = Member(v, "exec")) {
    h.kind = Handler::Kind::kExec;
    if (const JsonValue* cmd = Member(*e, "command"); cmd && cmd->IsArray()) {
      for (const auto& c : cmd->GetArray()) h.command.push_back(Str(&c));
    }
  } else if (const JsonValue* g = Member(v, "httpGet")) {
    h.kind = Handler::Kind::kHttpGet;
    h.scheme = Str(Member(*g, "scheme"));
    if (h.scheme.empty()) h.scheme = "HTTP";
    h.host = Str(Member(*g, "host"));
    h.port = PortText(Member(*g, "port"));
    h.path = Str(Member(*g, "path"));
    if (h.path.empty()) h.path = "/";
    if (const JsonValue* hs = Member(*g, "httpHeaders"); hs && hs->IsArray()) {
      for (const auto& x : hs->GetArray()) h.headers.emplace_back(Str(Member(x, "name")), Str(Member(x, "value")));
    }
  } else if (const JsonValue* t = Member(v, "tcpSocket")) {
    h.kind = Handler::Kind::kTcpSocket;
    h.host = Str(Member(*t, "host"));
    h.port = PortText(Member(*t, "port"));
  } else if (const JsonValue* s = Member(v, "sleep")) {
    h.kind = Handler::Kind::kSleep;
    h.sleep_seconds = GetInt(*s, "seconds").value_or(0);
  }
  return h;
}

std::optional<ProbeSpec> ParseProbe(const JsonValue& container, const char* field) {
  const JsonValue* p = Member(container, field);
  if (!p || !p->IsObject()) return std::nullopt;
  ProbeSpec s;
  s.handler = ParseHandler(*p);
  s.initial_delay_s = GetInt(*p, "initialDelaySeconds").value_or(0);
  s.timeout_s = std::max<int64_t>(1, GetInt(*p, "timeoutSeconds").value_or(1));
  s.period_s = std::max<int64_t>(1, GetInt(*p, "periodSeconds").value_or(10));
  s.success_threshold = std::max<int64_t>(1, GetInt(*p, "successThreshold").value_or(1));
  s.failure_threshold = std::max<int64_t>(1, GetInt(*p, "failureThreshold").value_or(3));
  if (auto g = GetInt(*p, "terminationGracePeriodSeconds")) s.termination_grace_s = *g;
  return s;
}

int ResolvePort(const Handler& h, const JsonValue& container) {
  if (h.port.empty()) return 0;
  bool numeric = h.port.find_first_not_of("0123456789") == std::string::npos;
  if (numeric) return std::atoi(h.port.c_str());
  if (const JsonValue* ports = Member(container, "ports"); ports && ports->IsArray()) {
    for (const auto& p : ports->GetArray()) {
      if (Str(Member(p, "name")) == h.port) return static_cast<int>(GetInt(p, "containerPort").value_or(0));
    }
  }
  return 0;
}

bool ProbeTracker::Record(bool success, const ProbeSpec& spec) {
  if (success) {
    failures_ = 0;
    ++successes_;
    if (!result_ && successes_ >= spec.success_threshold) {
      result_ = true;
      return true;
    }
  } else {
    successes_ = 0;
    ++failures_;
    if (result_ && failures_ >= spec.failure_threshold) {
      result_ = false;
      return true;
    }
  }
  return false;
}

std::string HttpStatusFailure(int status) { return "HTTP probe failed with statuscode: " + std::to_string(status); }

std::string DialFailure(const std::string& host, int port, const std::string& reason) {
  return "dial tcp " + host + ":" + std::to_string(port) + ": " + reason;
}

}  // namespace minik::agent::kubelet
