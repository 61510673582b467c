#!/usr/bin/env python3
"""Generates src/api/protobuf_schema.cc from upstream's generated.proto and types.go files.

Usage: protobuf_schema_gen.py SRC_DIR > src/api/protobuf_schema.cc
SRC_DIR holds the k8s.io/api v0.32 files as api/<group>/<version>/{types.go,generated.proto} and
the apimachinery v0.32 files meta/{types.go,generated.proto}. The generated.proto gives each
field's number and wire type; types.go gives the Go field order, JSON name, omitempty, inline and
pointer-ness, which decide upstream's JSON (encoding/json) output.

To fill SRC_DIR from clones of kubernetes/api and kubernetes/apimachinery:
  git -C api show v0.32.9:<group>/<version>/types.go > SRC_DIR/api/<group>/<version>/types.go
  (same for generated.proto, for every group in GROUPS), and
  git -C apimachinery show v0.32.9:pkg/apis/meta/v1/{types.go,generated.proto} > SRC_DIR/meta/...
"""
import re, sys, os

SRC = sys.argv[1]
GROUPS = {  # package dir -> (proto package, apiVersion)
    'core/v1': ('k8s.io.api.core.v1', 'v1'),
    'apps/v1': ('k8s.io.api.apps.v1', 'apps/v1'),
    'batch/v1': ('k8s.io.api.batch.v1', 'batch/v1'),
    'policy/v1': ('k8s.io.api.policy.v1', 'policy/v1'),
    'rbac/v1': ('k8s.io.api.rbac.v1', 'rbac.authorization.k8s.io/v1'),
    'scheduling/v1': ('k8s.io.api.scheduling.v1', 'scheduling.k8s.io/v1'),
    'networking/v1': ('k8s.io.api.networking.v1', 'networking.k8s.io/v1'),
    'autoscaling/v1': ('k8s.io.api.autoscaling.v1', 'autoscaling/v1'),
    'autoscaling/v2': ('k8s.io.api.autoscaling.v2', 'autoscaling/v2'),
    'authorization/v1': ('k8s.io.api.authorization.v1', 'authorization.k8s.io/v1'),
    'authentication/v1': ('k8s.io.api.authentication.v1', 'authentication.k8s.io/v1'),
    'certificates/v1': ('k8s.io.api.certificates.v1', 'certificates.k8s.io/v1'),
    'coordination/v1': ('k8s.io.api.coordination.v1', 'coordination.k8s.io/v1'),
    'discovery/v1': ('k8s.io.api.discovery.v1', 'discovery.k8s.io/v1'),
}
META = 'k8s.io.apimachinery.pkg.apis.meta.v1'
KINDS = {
    'core/v1': ['Namespace', 'ConfigMap', 'Secret', 'Service', 'ServiceAccount', 'Pod', 'ResourceQuota',
                'Binding', 'Endpoints', 'Event', 'Node', 'PersistentVolumeClaim', 'PersistentVolume',
                'LimitRange', 'ReplicationController', 'PodTemplate'],
    'apps/v1': ['Deployment', 'ReplicaSet', 'DaemonSet', 'StatefulSet', 'ControllerRevision'],
    'batch/v1': ['Job', 'CronJob'],
    'policy/v1': ['PodDisruptionBudget', 'Eviction'],
    'rbac/v1': ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'],
    'scheduling/v1': ['PriorityClass'],
    'networking/v1': ['Ingress', 'IngressClass', 'NetworkPolicy'],
    'autoscaling/v1': ['Scale', 'HorizontalPodAutoscaler'],
    'autoscaling/v2': ['HorizontalPodAutoscaler'],
    'authorization/v1': ['SelfSubjectAccessReview', 'SubjectAccessReview', 'LocalSubjectAccessReview',
                         'SelfSubjectRulesReview'],
    'authentication/v1': ['TokenRequest', 'TokenReview', 'SelfSubjectReview'],
    'certificates/v1': ['CertificateSigningRequest'],
    'coordination/v1': ['Lease'],
    'discovery/v1': ['EndpointSlice'],
}
# Messages with their own JSON form (custom MarshalJSON upstream).
SPECIAL = {
    META + '.Time': 'kTime', META + '.MicroTime': 'kMicroTime', META + '.Duration': 'kDuration',
    META + '.FieldsV1': 'kRawJson', 'k8s.io.apimachinery.pkg.runtime.RawExtension': 'kRawJson',
    'k8s.io.apimachinery.pkg.api.resource.Quantity': 'kQuantity',
    'k8s.io.apimachinery.pkg.util.intstr.IntOrString': 'kIntOrString',
}
SCALARS = {'string': 'kString', 'bool': 'kBool', 'int32': 'kInt32', 'int64': 'kInt64', 'bytes': 'kBytes'}

def qualify(t, pkg):
    if t in SCALARS: return t
    return t[1:] if t.startswith('.') else pkg + '.' + t

def parse_proto(path, pkg, out):
    msg = None
    for line in open(path):
        m = re.match(r'^message (\w+) \{', line)
        if m:
            msg = pkg + '.' + m.group(1); out[msg] = {}; continue
        if line.startswith('}'):
            msg = None; continue
        if msg is None: continue
        m = re.match(r'^  (optional|repeated) (\S+) (\w+) = (\d+);', line)
        if m:
            out[msg][int(m.group(4))] = (m.group(1), qualify(m.group(2), pkg), None, m.group(3)); continue
        m = re.match(r'^  map<string, (\S+)> (\w+) = (\d+);', line)
        if m:
            out[msg][int(m.group(3))] = ('map', qualify(m.group(1), pkg), 'string', m.group(2)); continue
        if re.match(r'^  (optional|repeated|map|oneof)', line): sys.exit('unparsed: ' + line)

def parse_go(path, pkg, out, named_slices):
    text = open(path).read()
    for m in re.finditer(r'^type (\w+) \[\]string$', text, re.M):
        named_slices.add(pkg + '.' + m.group(1))
    for m in re.finditer(r'^type (\w+) struct \{\n(.*?)^\}', text, re.M | re.S):
        fields = []
        for line in m.group(2).split('\n'):
            f = re.match(r'^\t(?:(\w+)\s+)?([\w.*\[\]]+)\s+`([^`]*)`', line)
            if not f: continue
            tags = dict(re.findall(r'(\w+):"([^"]*)"', f.group(3)))
            if 'protobuf' not in tags: continue
            pb = tags['protobuf'].split(',')
            j = tags.get('json', '').split(',')
            fields.append({'number': int(pb[1]), 'json': j[0], 'omitempty': 'omitempty' in j[1:],
                           'inline': 'inline' in j[1:], 'gotype': f.group(2), 'skip': j[0] == '-'})
        out[pkg + '.' + m.group(1)] = fields

protos, gostructs, named_slices = {}, {}, set()
for d, (pkg, _) in GROUPS.items():
    parse_proto(os.path.join(SRC, 'api', d, 'generated.proto'), pkg, protos)
    parse_go(os.path.join(SRC, 'api', d, 'types.go'), pkg, gostructs, named_slices)
parse_proto(os.path.join(SRC, 'meta', 'generated.proto'), META, protos)
parse_go(os.path.join(SRC, 'meta', 'types.go'), META, gostructs, named_slices)

order, index = [], {}
def visit(msg):
    if msg in index: return
    index[msg] = None
    if msg not in gostructs: sys.exit('no Go struct for ' + msg)
    order.append(msg)
    for f in gostructs[msg]:
        if f['skip']: continue
        p = protos[msg].get(f['number'])
        if p is None: sys.exit('no proto field %s.%d' % (msg, f['number']))
        t = p[1]
        if t not in SCALARS and t not in SPECIAL and t not in named_slices: visit(t)
    numbers = {f['number'] for f in gostructs[msg] if not f['skip']}
    for n in protos[msg]:
        if n not in numbers: sys.exit('proto field %s.%d has no Go field' % (msg, n))

kinds = []
for d, names in KINDS.items():
    pkg, gv = GROUPS[d]
    for k in names:
        visit(pkg + '.' + k); kinds.append((gv, k, pkg + '.' + k))
    visit(META + '.DeleteOptions'); kinds.append((gv, 'DeleteOptions', META + '.DeleteOptions'))
visit(META + '.DeleteOptions'); kinds.append(('meta.k8s.io/v1', 'DeleteOptions', META + '.DeleteOptions'))
for i, m in enumerate(order): index[m] = i

def short(msg):
    return msg.replace('k8s.io.api.', '').replace('k8s.io.apimachinery.pkg.apis.meta.v1', 'meta.v1')

rows, starts = [], []
for msg in order:
    starts.append(len(rows))
    for f in gostructs[msg]:
        if f['skip']: continue
        label, t, key, _ = protos[msg][f['number']]
        flags = []
        if label == 'repeated': flags.append('kRepeated')
        if label == 'map': flags.append('kMap')
        if f['gotype'].startswith('*'): flags.append('kPointer')
        if f['omitempty']: flags.append('kOmitEmpty')
        if f['inline']: flags.append('kInline')
        sub = -1
        if t in SCALARS: kind = SCALARS[t]
        elif t in SPECIAL: kind = SPECIAL[t]
        elif t in named_slices: kind = 'kStringList'
        else: kind, sub = 'kMessage', index[t]
        if t == 'bytes' and label == 'repeated': sys.exit('repeated bytes unsupported: ' + msg)
        rows.append('    {%d, %d, %s, %s, "%s"},  // %s' % (
            f['number'], sub, kind, ' | '.join(flags) or '0', f['json'], short(msg)))
starts.append(len(rows))

print('// GENERATED by src/api/protobuf_schema_gen.py from k8s.io/api and k8s.io/apimachinery v0.32.9')
print('// (generated.proto: field numbers and wire types; types.go: Go order, JSON names, omitempty,')
print('// inline, pointers). Do not edit by hand; regenerate.')
print('#include "api/protobuf_schema.h"\n')
print('namespace minik::api::protobuf_internal {\n')
print('namespace {\nconstexpr uint8_t kRepeated = kFlagRepeated, kMap = kFlagMap, kPointer = kFlagPointer,')
print('                  kOmitEmpty = kFlagOmitEmpty, kInline = kFlagInline;')
print('constexpr FieldKind kString = FieldKind::kString, kBool = FieldKind::kBool, kInt32 = FieldKind::kInt32,')
print('    kInt64 = FieldKind::kInt64, kBytes = FieldKind::kBytes, kMessage = FieldKind::kMessage,')
print('    kTime = FieldKind::kTime, kMicroTime = FieldKind::kMicroTime, kDuration = FieldKind::kDuration,')
print('    kQuantity = FieldKind::kQuantity, kIntOrString = FieldKind::kIntOrString,')
print('    kRawJson = FieldKind::kRawJson, kStringList = FieldKind::kStringList;\n')
print('constexpr FieldDef kFields[] = {')
print('\n'.join(rows))
print('};\n')
print('constexpr MessageDef kMessageTable[] = {')
for i, msg in enumerate(order):
    print('    {"%s", kFields + %d, %d},  // %d' % (short(msg), starts[i], starts[i + 1] - starts[i], i))
print('};\n')
print('constexpr KindDef kKindTable[] = {')
for gv, k, msg in kinds:
    print('    {"%s", "%s", %d},' % (gv, k, index[msg]))
print('};\n}  // namespace\n')
print('std::span<const MessageDef> Messages() { return kMessageTable; }')
print('std::span<const KindDef> Kinds() { return kKindTable; }\n')
print('}  // namespace minik::api::protobuf_internal')
