#!/usr/bin/env python3
"""Generate Berth's wire types for an AWS JSON service from botocore's service model.

For each service in SERVICES (ECS, ECR, CloudWatch Logs, Secrets Manager, SSM) writes crates/berth-api/src/SERVICE/generated.rs:
one Rust struct per structure shape and one enum per string-enum shape reachable from
the service's operations below, plus the `Operation` enum and the `X-Amz-Target`
prefix. The member names, types, enums and required-ness come from the model; the
rules that turn them into Rust are in `emit_struct`.

How to run (Python 3, standard library only):

    pip download botocore --no-deps -d /tmp/botocore
    (cd /tmp/botocore && unzip -q -o botocore-*.whl)
    python3 scripts/gen-wire.py ecs /tmp/botocore/botocore/data/ecs/2014-11-13/service-2.json.gz
    python3 scripts/gen-wire.py ecr /tmp/botocore/botocore/data/ecr/2015-09-21/service-2.json.gz
    python3 scripts/gen-wire.py logs /tmp/botocore/botocore/data/logs/2014-03-28/service-2.json.gz
    python3 scripts/gen-wire.py secretsmanager /tmp/botocore/botocore/data/secretsmanager/2017-10-17/service-2.json.gz
    python3 scripts/gen-wire.py ssm /tmp/botocore/botocore/data/ssm/2014-11-06/service-2.json.gz

The model may be `service-2.json` or `service-2.json.gz`. The botocore version written in
the header is read from the `botocore/__init__.py` next to the model; pass
`--botocore-version` when the model lives elsewhere. The output is run through `rustfmt`
when it is on PATH. To cover another operation, add it to the service's list and run
again.
"""

import argparse
import gzip
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# The ECS operations Berth implements. Their request and response shapes, and every
# shape those reach, are generated.
ECS_OPERATIONS = [
    # Clusters
    "CreateCluster",
    "DeleteCluster",
    "DescribeClusters",
    "ListClusters",
    "UpdateCluster",
    "UpdateClusterSettings",
    "PutClusterCapacityProviders",
    # Task definitions
    "RegisterTaskDefinition",
    "DeregisterTaskDefinition",
    "DeleteTaskDefinitions",
    "DescribeTaskDefinition",
    "ListTaskDefinitions",
    "ListTaskDefinitionFamilies",
    # Tasks
    "RunTask",
    "StartTask",
    "StopTask",
    "DescribeTasks",
    "ListTasks",
    # Exec (berth exec's session)
    "ExecuteCommand",
    # Container instances and attributes
    "RegisterContainerInstance",
    "DeregisterContainerInstance",
    "DescribeContainerInstances",
    "ListContainerInstances",
    "UpdateContainerInstancesState",
    "PutAttributes",
    "DeleteAttributes",
    "ListAttributes",
    # Tags
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    # Agent state changes
    "SubmitTaskStateChange",
    "SubmitContainerStateChange",
    # Services
    "CreateService",
    "UpdateService",
    "DeleteService",
    "DescribeServices",
    "ListServices",
    "ListServiceDeployments",
    "DescribeServiceDeployments",
    # Capacity providers
    "CreateCapacityProvider",
    "DescribeCapacityProviders",
    "UpdateCapacityProvider",
    "DeleteCapacityProvider",
    # Task sets (the EXTERNAL deployment controller)
    "CreateTaskSet",
    "DescribeTaskSets",
    "UpdateTaskSet",
    "DeleteTaskSet",
    "UpdateServicePrimaryTaskSet",
    "DescribeServiceRevisions",
    # Task protection
    "GetTaskProtection",
    "UpdateTaskProtection",
    # Agents
    "DiscoverPollEndpoint",
    # Account settings
    "PutAccountSetting",
    "PutAccountSettingDefault",
    "ListAccountSettings",
    "DeleteAccountSetting",
]

# The ECR operations Berth implements.
ECR_OPERATIONS = [
    "CreateRepository",
    "DescribeRepositories",
    "DeleteRepository",
    "GetAuthorizationToken",
    "ListImages",
    "DescribeImages",
    "BatchGetImage",
    "BatchDeleteImage",
    "PutImageTagMutability",
    "BatchCheckLayerAvailability",
    "PutImage",
    "PutLifecyclePolicy",
    "GetLifecyclePolicy",
    "DeleteLifecyclePolicy",
    "SetRepositoryPolicy",
    "GetRepositoryPolicy",
    "DeleteRepositoryPolicy",
    "GetDownloadUrlForLayer",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
]

# The CloudWatch Logs operations Berth implements.
LOGS_OPERATIONS = [
    "CreateLogGroup",
    "DeleteLogGroup",
    "DescribeLogGroups",
    "CreateLogStream",
    "DeleteLogStream",
    "DescribeLogStreams",
    "PutLogEvents",
    "GetLogEvents",
    "FilterLogEvents",
    "PutRetentionPolicy",
    "DeleteRetentionPolicy",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "TagLogGroup",
    "UntagLogGroup",
    "ListTagsLogGroup",
]

# The Secrets Manager operations Berth implements.
SECRETSMANAGER_OPERATIONS = [
    "CreateSecret",
    "GetSecretValue",
    "PutSecretValue",
    "UpdateSecret",
    "DescribeSecret",
    "ListSecrets",
    "DeleteSecret",
    "RestoreSecret",
    "TagResource",
    "UntagResource",
]

# The SSM Parameter Store operations Berth implements.
SSM_OPERATIONS = [
    "PutParameter",
    "GetParameter",
    "GetParameters",
    "GetParametersByPath",
    "DeleteParameter",
    "DeleteParameters",
    "DescribeParameters",
    "GetParameterHistory",
    "LabelParameterVersion",
]

# service: (its name in docs, its operations, whether it always sends unboxed numbers and
# booleans of its responses). ECS and ECR send `runningTasksCount: 0`; CloudWatch Logs
# leaves out what a resource does not have (`retentionInDays` of a group that keeps
# events forever, `firstEventTimestamp` of an empty stream), so its are `Option`s.
SERVICES = {
    "ecs": ("ECS", ECS_OPERATIONS, True),
    "ecr": ("ECR", ECR_OPERATIONS, True),
    "logs": ("CloudWatch Logs", LOGS_OPERATIONS, False),
    "secretsmanager": ("Secrets Manager", SECRETSMANAGER_OPERATIONS, False),
    "ssm": ("SSM", SSM_OPERATIONS, False),
}

# Scalar shape types and their Rust types. A `timestamp` is `super::Timestamp`.
SCALARS = {
    "string": "String",
    "integer": "i32",
    "long": "i64",
    "boolean": "bool",
    "double": "f64",
    "float": "f32",
    "timestamp": "Timestamp",
    "blob": "String",  # base64 text on the JSON wire
}

# Names the generated module defines itself; a shape with one of these names would clash.
RESERVED_NAMES = {"Operation", "Timestamp", "Option", "Result", "String", "Vec", "Box"}

DOC_MAX = 100  # characters of the model's first sentence kept in a doc comment


def load_model(path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def botocore_version(model_path):
    """Reads __version__ from the botocore package that holds the model, if it does."""
    for parent in model_path.resolve().parents:
        init = parent / "__init__.py"
        if parent.name == "botocore" and init.exists():
            m = re.search(r"__version__\s*=\s*['\"]([^'\"]+)['\"]", init.read_text())
            if m:
                return m.group(1)
    return None


def reachable(shapes, roots):
    """Every shape name reachable from `roots` through members, list items and map values."""
    seen = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        kind = shape["type"]
        if kind == "structure":
            stack.extend(m["shape"] for m in shape["members"].values())
        elif kind == "list":
            stack.append(shape["member"]["shape"])
        elif kind == "map":
            stack.extend([shape["key"]["shape"], shape["value"]["shape"]])
    return seen


def snake_case(member):
    """`containerDefinitions` -> `container_definitions`, `bindIP` -> `bind_ip`."""
    s = member.replace("MiB", "Mib").replace("GiB", "Gib")
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def camel_case(snake):
    """What serde's rename_all = "camelCase" makes of a snake_case field name."""
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# Rust keywords, strict and reserved; a member with one of these names becomes `r#name`.
RUST_KEYWORDS = {
    "as", "async", "await", "box", "break", "const", "continue", "dyn", "else",
    "enum", "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match",
    "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "static", "struct",
    "trait", "true", "try", "type", "typeof", "unsafe", "use", "where", "while",
    "yield", "abstract", "become", "do", "final", "macro", "unsized", "virtual", "gen",
}


def rust_field(snake):
    """A Rust field name for `snake`, raw (`r#type`) when it is a Rust keyword."""
    if snake in ("crate", "self", "super"):
        sys.exit(f"member `{snake}` cannot be a raw identifier; give it a name in the script")
    return f"r#{snake}" if snake in RUST_KEYWORDS else snake


def variant_name(value):
    """`FARGATE` -> `Fargate`, `json-file` -> `JsonFile`, `X86_64` -> `X86_64`."""
    words = []
    for part in re.split(r"[^A-Za-z0-9]+", value):
        words += re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", part)
    name = ""
    for word in words:
        word = word[0].upper() + word[1:].lower()
        if name and name[-1].isdigit() and word[0].isdigit():
            name += "_"  # keep `X86_64` readable instead of `X8664`
        name += word
    return name


def first_sentence(documentation):
    """The first sentence of the model's HTML documentation, as one short line of text."""
    text = re.sub(r"<code>(.*?)</code>", r"`\1`", documentation or "", flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(html.unescape(text).split())
    m = re.match(r"(.*?[.!?])(\s|$)", text)
    text = m.group(1) if m else text
    text = text.replace("[", "(").replace("]", ")").replace("<", "").replace(">", "")
    if len(text) > DOC_MAX:
        text = text[:DOC_MAX].rsplit(" ", 1)[0].rstrip(",;:") + " …"
    if text.count("`") % 2:
        text = text.replace("`", "")
    return text


class Generator:
    def __init__(self, model, label, operations, primitives_always=True):
        self.primitives_always = primitives_always
        self.model = model
        self.label = label
        self.operations = operations
        self.shapes = model["shapes"]
        ops = model["operations"]
        self.requests = [ops[o]["input"]["shape"] for o in operations]
        self.responses = [self.output_of(o, ops[o]) for o in operations]
        self.input_shapes = reachable(self.shapes, self.requests)
        self.output_shapes = reachable(self.shapes, self.responses)
        self.all_shapes = self.input_shapes | self.output_shapes
        clash = RESERVED_NAMES & {
            n for n in self.all_shapes if self.is_struct(n) or self.is_enum(n)
        }
        if clash:
            sys.exit(f"shape names clash with generated items: {sorted(clash)}")
        self._default_cache = {}

    def output_of(self, name, op):
        """The response shape of an operation; one without output (AWS answers `{}`) gets an
        empty `{name}Response` structure, so every operation has a response type."""
        if "output" in op:
            return op["output"]["shape"]
        synthetic = f"{name}Response"
        if synthetic in self.shapes:
            sys.exit(f"{name} has no output, and a shape named {synthetic} exists already")
        self.shapes[synthetic] = {"type": "structure", "members": {}}
        return synthetic

    def uses_timestamps(self):
        return any(self.shapes[n]["type"] == "timestamp" for n in self.all_shapes)

    def uses_maps(self):
        return any(self.shapes[n]["type"] == "map" for n in self.all_shapes)

    def is_struct(self, name):
        return self.shapes[name]["type"] == "structure"

    def is_enum(self, name):
        return "enum" in self.shapes[name]

    def is_input(self, name):
        """Reachable from a request: unknown members are rejected."""
        return name in self.input_shapes

    def rust_type(self, name):
        shape = self.shapes[name]
        kind = shape["type"]
        if kind == "structure" or self.is_enum(name):
            return name
        if kind == "list":
            return f"Vec<{self.rust_type(shape['member']['shape'])}>"
        if kind == "map":
            key = self.rust_type(shape["key"]["shape"])
            return f"BTreeMap<{key}, {self.rust_type(shape['value']['shape'])}>"
        return SCALARS[kind]

    def has_default(self, name):
        """Whether a plain (non-Option) field of this shape can be `Default`."""
        shape = self.shapes[name]
        if self.is_enum(name):
            return False
        if shape["type"] != "structure":
            return shape["type"] != "timestamp"
        if name not in self._default_cache:
            self._default_cache[name] = all(
                self.has_default(f["shape"]) for f in self.plain_fields(name)
            )
        return self._default_cache[name]

    def plain_fields(self, name):
        shape = self.shapes[name]
        return [
            m
            for member, m in shape["members"].items()
            if self.field_kind(name, member) != "option"
        ]

    def field_kind(self, struct, member):
        """How a member is represented: "required", "always" or "option".

        - required members are plain values (serde reports "missing field `x`");
        - output-only shapes of services that always send them (see SERVICES): non-boxed
          integer/long/boolean/double members are plain values with `#[serde(default)]`
          that are always serialized (`runningTasksCount: 0`, `agentConnected: false`);
        - everything else is `Option<T>`, absent on the wire when `None`.
        """
        shape = self.shapes[struct]
        if member in shape.get("required", []):
            return "required"
        target = self.shapes[shape["members"][member]["shape"]]
        primitive = target["type"] in ("integer", "long", "boolean", "double")
        if self.primitives_always and not self.is_input(struct) and primitive and not target.get("box"):
            return "always"
        return "option"

    def struct_doc(self, name):
        doc = first_sentence(self.shapes[name].get("documentation"))
        if doc:
            return doc
        for op in self.operations:
            if name == f"{op}Request":
                return f"Request of the `{op}` operation."
            if name == f"{op}Response":
                return f"Response of the `{op}` operation."
        return f"The `{name}` shape of the {self.label} API."

    def emit_struct(self, name):
        shape = self.shapes[name]
        derives = ["Debug", "Clone"]
        if self.has_default(name):
            derives.append("Default")
        derives += ["PartialEq", "Serialize", "Deserialize"]
        serde = ['rename_all = "camelCase"']
        if self.is_input(name):
            serde.append("deny_unknown_fields")
        lines = [
            f"/// {self.struct_doc(name)}",
            f"#[derive({', '.join(derives)})]",
            f"#[serde({', '.join(serde)})]",
        ]
        if not shape["members"]:
            lines.append(f"pub struct {name} {{}}")
            return "\n".join(lines)
        lines.append(f"pub struct {name} {{")
        for member, spec in shape["members"].items():
            snake = snake_case(member)
            attrs = []
            if camel_case(snake) != member:
                attrs.append(f'rename = "{member}"')
            ty = self.rust_type(spec["shape"])
            kind = self.field_kind(name, member)
            if kind == "option":
                attrs += ["default", 'skip_serializing_if = "Option::is_none"']
                ty = f"Option<{ty}>"
            elif kind == "always":
                attrs.append("default")
            if attrs:
                lines.append(f"    #[serde({', '.join(attrs)})]")
            lines.append(f"    pub {rust_field(snake)}: {ty},")
        lines.append("}")
        return "\n".join(lines)

    def emit_enum(self, name, values, doc):
        variants = [variant_name(v) for v in values]
        if len(set(variants)) != len(variants):
            sys.exit(f"enum {name}: two values map to the same variant name: {values}")
        lines = ["wire_enum! {", f"    /// {doc}", f"    {name} {{"]
        lines += [f'        {v} = "{w}",' for v, w in zip(variants, values)]
        lines += ["    }", "}"]
        return "\n".join(lines)

    def render(self, version):
        meta = self.model["metadata"]
        out = [
            f"//! {self.label} wire types, generated by scripts/gen-wire.py from botocore's {self.label} service",
            f"//! model (botocore {version}, API version {meta['apiVersion']}). Do not edit; change",
            "//! the script or its operation list and run it again.",
            "",
            *(["use std::collections::BTreeMap;", ""] if self.uses_maps() else []),
            "use serde::{Deserialize, Serialize};",
            "",
            *(["use super::Timestamp;", ""] if self.uses_timestamps() else []),
            f"/// Prefix of the `X-Amz-Target` header of every {self.label} request, before `.{{Operation}}`.",
            f'pub const TARGET_PREFIX: &str = "{meta["targetPrefix"]}";',
            "",
            self.emit_enum(
                "Operation",
                self.operations,
                f"The {self.label} operations Berth implements, named as in `X-Amz-Target`.",
            ),
            "",
            "// ---- Requests and responses, in the order of the operation list ----",
        ]
        top_level = []
        for request, response in zip(self.requests, self.responses):
            top_level += [request, response]
        for name in top_level:
            out += ["", self.emit_struct(name)]
        out += ["", "// ---- Structures the requests and responses reach ----"]
        for name in sorted(self.all_shapes - set(top_level)):
            if self.is_struct(name):
                out += ["", self.emit_struct(name)]
        out += ["", "// ---- Enums ----"]
        for name in sorted(self.all_shapes):
            if self.is_enum(name):
                doc = first_sentence(self.shapes[name].get("documentation"))
                doc = doc or f"The `{name}` values of the {self.label} API."
                out += ["", self.emit_enum(name, self.shapes[name]["enum"], doc)]
        return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("service", choices=sorted(SERVICES), help="which service's types")
    parser.add_argument("model", type=Path, help="botocore's service-2.json(.gz) of that service")
    parser.add_argument("--out", type=Path, help="Rust file to write (default: the service's)")
    parser.add_argument("--botocore-version", help="version to name in the header")
    args = parser.parse_args()

    model = load_model(args.model)
    version = args.botocore_version or botocore_version(args.model)
    if not version:
        sys.exit("cannot tell the botocore version; pass --botocore-version")
    label, operations, primitives_always = SERVICES[args.service]
    out = args.out or REPO_ROOT / f"crates/berth-api/src/{args.service}/generated.rs"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(Generator(model, label, operations, primitives_always).render(version), encoding="utf-8")

    rustfmt = shutil.which("rustfmt")
    if rustfmt:
        subprocess.run([rustfmt, "--edition", "2021", str(out)], check=True)
    else:
        print("rustfmt not found; run `cargo fmt` before committing", file=sys.stderr)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
