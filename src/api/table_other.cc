// Table cells of networking, discovery, coordination, rbac, storage, scheduling, node and
// certificates kinds (upstream's printers.go, v1.32), read from the stored JSON.
#include <algorithm>
#include <vector>

#include "api/table_internal.h"

namespace minik::api::table {
namespace {

// "a,b,c + N more..." with "<unset>" for an empty list (listWithMoreString).
class MoreList {
 public:
  explicit MoreList(Buf& b) : b_(b) {}
  void Add(std::string_view s) {
    if (listed_ < kMax) {
      if (listed_) b_.Add(',');
      b_.Add(s);
      ++listed_;
    } else {
      more_ = true;
    }
    ++count_;
  }
  void AddInt(int64_t v) {
    Buf t;
    t.Int(v);
    Add(t.view());
  }
  void Finish() {
    if (more_) {
      b_.Add(" + ").Int(count_ - kMax).Add(" more...");
    } else if (listed_ == 0) {
      b_.Add("<unset>");
    }
  }

 private:
  static constexpr int kMax = 3;
  Buf& b_;
  int listed_ = 0;
  int64_t count_ = 0;
  bool more_ = false;
};

}  // namespace

// printIngress, formatHosts, ingressLoadBalancerStatusStringer (wide: not truncated), formatPorts.
void PrintIngress(Row& r, const JsonValue& o) {
  const JsonValue* spec = Get(o, "spec");
  Buf hosts;
  const JsonValue* rules = Arr(spec, "rules");
  {
    constexpr int kMax = 3;
    int listed = 0;
    bool more = false;
    if (rules) {
      for (const JsonValue& rule : rules->GetArray()) {
        if (listed == kMax) more = true;
        std::string_view host = Str(rule, "host");
        if (!more && !host.empty()) {
          if (listed) hosts.Add(',');
          hosts.Add(host);
          ++listed;
        }
      }
    }
    if (listed == 0) {
      hosts.Add('*');
    } else if (more) {
      hosts.Add(" + ").Int(static_cast<int64_t>(rules->Size()) - kMax).Add(" more...");
    }
  }
  std::vector<std::string_view> lb;
  if (const JsonValue* ingress = Arr(Get(Get(o, "status"), "loadBalancer"), "ingress")) {
    for (const JsonValue& in : ingress->GetArray()) {
      std::string_view v = Str(in, "ip");
      if (v.empty()) v = Str(in, "hostname");
      if (!v.empty()) lb.push_back(v);
    }
  }
  std::sort(lb.begin(), lb.end());
  lb.erase(std::unique(lb.begin(), lb.end()), lb.end());
  Buf address;
  for (size_t i = 0; i < lb.size(); ++i) {
    if (i) address.Add(',');
    address.Add(lb[i]);
  }
  r.Name(o);
  r.Str(IsSet(Get(spec, "ingressClassName")) ? Str(spec, "ingressClassName") : std::string_view("<none>"));
  r.Str(hosts);
  r.Str(address);
  r.Str(Len(spec, "tls") != 0 ? "80, 443" : "80");
  r.Age(o);
}

// printIngressClass.
void PrintIngressClass(Row& r, const JsonValue& o) {
  const JsonValue* spec = Get(o, "spec");
  const JsonValue* params = Get(spec, "parameters");
  Buf parameters;
  if (IsSet(params)) {
    parameters.Add(Str(params, "kind"));
    if (IsSet(Get(params, "apiGroup"))) parameters.Add('.').Add(Str(params, "apiGroup"));
    parameters.Add('/').Add(Str(params, "name"));
  } else {
    parameters.Add("<none>");
  }
  r.Name(o);
  r.Str(Str(spec, "controller"));
  r.Str(parameters);
  r.Age(o);
}

// printNetworkPolicy.
void PrintNetworkPolicy(Row& r, const JsonValue& o) {
  Buf selector;
  // podSelector is a struct upstream, never nil; absent prints as the empty selector, "<none>".
  AppendLabelSelector(selector, Get(Get(o, "spec"), "podSelector"));
  r.Name(o);
  r.Str(selector);
  r.Age(o);
}

// printEndpointSlice, formatDiscoveryPorts, formatDiscoveryEndpoints.
void PrintEndpointSlice(Row& r, const JsonValue& o) {
  Buf ports;
  {
    MoreList list(ports);
    if (const JsonValue* ps = Arr(&o, "ports")) {
      for (const JsonValue& p : ps->GetArray()) {
        if (IsSet(Get(p, "port"))) {
          list.AddInt(Int(&p, "port"));
        } else if (IsSet(Get(p, "name"))) {
          list.Add(Str(p, "name"));
        } else {
          list.Add("*");
        }
      }
    }
    list.Finish();
  }
  Buf endpoints;
  {
    MoreList list(endpoints);
    if (const JsonValue* eps = Arr(&o, "endpoints")) {
      for (const JsonValue& ep : eps->GetArray()) {
        if (const JsonValue* addrs = Arr(&ep, "addresses")) {
          for (const JsonValue& a : addrs->GetArray()) list.Add(Str(&a));
        }
      }
    }
    list.Finish();
  }
  r.Name(o);
  r.Str(Str(o, "addressType"));
  r.Str(ports);
  r.Str(endpoints);
  r.Age(o);
}

// printLease.
void PrintLease(Row& r, const JsonValue& o) {
  r.Name(o);
  r.Str(Str(Get(o, "spec"), "holderIdentity"));
  r.Age(o);
}

// printRoleBinding / printClusterRoleBinding, rbac.SubjectsStrings.
void PrintRoleBinding(Row& r, const JsonValue& o) {
  const JsonValue* ref = Get(o, "roleRef");
  Buf role;
  role.Add(Str(ref, "kind")).Add('/').Add(Str(ref, "name"));
  Buf users, groups, sas;
  if (const JsonValue* subjects = Arr(&o, "subjects")) {
    for (const JsonValue& s : subjects->GetArray()) {
      std::string_view kind = Str(s, "kind");
      Buf* out = nullptr;
      if (kind == "ServiceAccount") {
        out = &sas;
      } else if (kind == "User") {
        out = &users;
      } else if (kind == "Group") {
        out = &groups;
      } else {
        continue;
      }
      if (!out->empty()) out->Add(", ");
      if (out == &sas) out->Add(Str(s, "namespace")).Add('/');
      out->Add(Str(s, "name"));
    }
  }
  r.Name(o);
  r.Str(role);
  r.Age(o);
  r.Str(users);
  r.Str(groups);
  r.Str(sas);
}

// printStorageClass, storageutil.IsDefaultAnnotation.
void PrintStorageClass(Row& r, const JsonValue& o) {
  const JsonValue* meta = Get(o, "metadata");
  const JsonValue* annotations = Get(meta, "annotations");
  Buf name;
  name.Add(Str(meta, "name"));
  if (Str(annotations, "storageclass.kubernetes.io/is-default-class") == "true" ||
      Str(annotations, "storageclass.beta.kubernetes.io/is-default-class") == "true") {
    name.Add(" (default)");
  }
  std::string_view reclaim = Str(o, "reclaimPolicy");
  std::string_view binding = Str(o, "volumeBindingMode");
  r.Str(name);
  r.Str(Str(o, "provisioner"));
  r.Str(reclaim.empty() ? std::string_view("Delete") : reclaim);
  r.Str(binding.empty() ? std::string_view("Immediate") : binding);
  r.Bool(Bool(&o, "allowVolumeExpansion"));
  r.Age(o);
}

// printPriorityClass.
void PrintPriorityClass(Row& r, const JsonValue& o) {
  r.Name(o);
  r.Int(Int(&o, "value"));
  r.Bool(Bool(&o, "globalDefault"));
  r.Age(o);
  r.Str(Str(o, "preemptionPolicy"));
}

// printRuntimeClass.
void PrintRuntimeClass(Row& r, const JsonValue& o) {
  r.Name(o);
  r.Str(Str(o, "handler"));
  r.Age(o);
}

// printCertificateSigningRequest, extractCSRStatus.
void PrintCertificateSigningRequest(Row& r, const JsonValue& o) {
  const JsonValue* spec = Get(o, "spec");
  const JsonValue* status = Get(o, "status");
  bool approved = false, denied = false, failed = false;
  if (const JsonValue* conds = Arr(status, "conditions")) {
    for (const JsonValue& c : conds->GetArray()) {
      std::string_view type = Str(c, "type");
      approved |= type == "Approved";
      denied |= type == "Denied";
      failed |= type == "Failed";
    }
  }
  Buf state;
  state.Add(denied ? "Denied" : approved ? "Approved" : "Pending");
  if (failed) state.Add(",Failed");
  if (!Str(status, "certificate").empty()) state.Add(",Issued");
  Buf duration;
  if (IsSet(Get(spec, "expirationSeconds"))) {
    AppendHumanDuration(duration, std::chrono::seconds(Int(spec, "expirationSeconds")));
  } else {
    duration.Add("<none>");
  }
  std::string_view signer = Str(spec, "signerName");
  r.Name(o);
  r.Age(o);
  r.Str(signer.empty() ? std::string_view("<none>") : signer);
  r.Str(Str(spec, "username"));
  r.Str(duration);
  r.Str(state);
}

}  // namespace minik::api::table
