//! Evaluation of a parsed expression against one container instance.

use std::cmp::Ordering;

use super::compare::{compare_attribute, compare_time, compare_version};
use super::{Arg, Literal, Node, Operator, Subject, Test, Typed};
use crate::ContainerInstance;

/// What an expression can ask about an instance. Implemented by [`ContainerInstance`] and
/// by the placement engine's view of an instance with the plan's tasks added.
pub(crate) trait Facts {
    /// Value of an attribute: `None` when absent, `Some("")` when present without value.
    fn attribute(&self, name: &str) -> Option<&str>;
    /// EC2 instance id, if any.
    fn ec2_instance_id(&self) -> Option<&str>;
    /// Whether the agent is connected.
    fn agent_connected(&self) -> bool;
    /// Agent version, if known.
    fn agent_version(&self) -> Option<&str>;
    /// Registration time, seconds since the Unix epoch.
    fn registered_at(&self) -> Option<i64>;
    /// Number of running tasks.
    fn running_tasks_count(&self) -> u64;
    /// Whether a task of the group is on the instance.
    fn hosts_group(&self, group: &str) -> bool;
    /// Whether any group hosted on the instance satisfies `f`.
    fn any_group(&self, f: &mut dyn FnMut(&str) -> bool) -> bool;
}

impl Facts for ContainerInstance {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .get(name)
            .map(|v| v.as_deref().unwrap_or(""))
    }

    fn ec2_instance_id(&self) -> Option<&str> {
        self.ec2_instance_id.as_deref()
    }

    fn agent_connected(&self) -> bool {
        self.agent_connected
    }

    fn agent_version(&self) -> Option<&str> {
        self.agent_version.as_deref()
    }

    fn registered_at(&self) -> Option<i64> {
        self.registered_at
    }

    fn running_tasks_count(&self) -> u64 {
        u64::from(self.running_tasks_count)
    }

    fn hosts_group(&self, group: &str) -> bool {
        self.task_groups.get(group).is_some_and(|&n| n > 0)
    }

    fn any_group(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        self.task_groups
            .iter()
            .any(|(g, &n)| n > 0 && f(g.as_str()))
    }
}

/// Evaluates a tree.
pub(crate) fn eval(node: &Node, facts: &impl Facts) -> bool {
    match node {
        Node::Or(items) => items.iter().any(|n| eval(n, facts)),
        Node::And(items) => items.iter().all(|n| eval(n, facts)),
        Node::Not(n) => !eval(n, facts),
        Node::Test(t) => test(t, facts),
    }
}

fn ordered(op: Operator, o: Ordering) -> bool {
    match op {
        Operator::Eq => o == Ordering::Equal,
        Operator::Ne => o != Ordering::Equal,
        Operator::Gt => o == Ordering::Greater,
        Operator::Ge => o != Ordering::Less,
        Operator::Lt => o == Ordering::Less,
        Operator::Le => o != Ordering::Greater,
        _ => false,
    }
}

fn one(arg: &Arg) -> Option<&Literal> {
    match arg {
        Arg::One(l) => Some(l),
        _ => None,
    }
}

/// A text-valued subject (attribute, ec2InstanceId, agentConnected): every operator but
/// `!exists` needs the subject to be present, so `attribute:stack != prod` selects only
/// instances that have a `stack` attribute, as ECS documents.
fn text_test(value: Option<&str>, t: &Test) -> bool {
    let Some(v) = value else {
        return t.op == Operator::NotExists;
    };
    let same = |l: &Literal| match l.typed {
        Typed::Bool(b) => v == if b { "true" } else { "false" },
        _ => v == l.text,
    };
    match (&t.op, &t.arg) {
        (Operator::Exists, _) => true,
        (Operator::NotExists, _) => false,
        (Operator::In, Arg::List(items)) => items.iter().any(same),
        (Operator::NotIn, Arg::List(items)) => !items.iter().any(same),
        (Operator::Matches, Arg::Pattern(p)) => p.regex.is_match(v),
        (Operator::NotMatches, Arg::Pattern(p)) => !p.regex.is_match(v),
        (Operator::Eq, Arg::One(l)) => same(l),
        (Operator::Ne, Arg::One(l)) => !same(l),
        (op, Arg::One(l)) => ordered(*op, compare_attribute(v, &l.text)),
        _ => false,
    }
}

fn test(t: &Test, facts: &impl Facts) -> bool {
    match &t.subject {
        Subject::Attribute(name) => text_test(facts.attribute(name), t),
        Subject::Ec2InstanceId => text_test(facts.ec2_instance_id(), t),
        Subject::AgentConnected => text_test(
            Some(if facts.agent_connected() {
                "true"
            } else {
                "false"
            }),
            t,
        ),
        Subject::AgentVersion => match (facts.agent_version(), one(&t.arg)) {
            (Some(v), Some(l)) => ordered(t.op, compare_version(v, &l.text)),
            _ => false,
        },
        Subject::RegisteredAt => match (facts.registered_at(), one(&t.arg)) {
            (
                Some(at),
                Some(Literal {
                    typed: Typed::Time { secs, date_only },
                    ..
                }),
            ) => ordered(t.op, compare_time(at, *secs, *date_only)),
            _ => false,
        },
        Subject::RunningTasksCount => match one(&t.arg) {
            Some(Literal {
                typed: Typed::Count(n),
                ..
            }) => ordered(t.op, facts.running_tasks_count().cmp(n)),
            _ => false,
        },
        // task:group asks whether the instance hosts a group; the negative operators are
        // the negation of the positive ones (`task:group != db` = hosts no `db` task).
        Subject::TaskGroup => match (&t.op, &t.arg) {
            (Operator::Eq, Arg::One(l)) => facts.hosts_group(&l.text),
            (Operator::Ne, Arg::One(l)) => !facts.hosts_group(&l.text),
            (Operator::In, Arg::List(items)) => items.iter().any(|l| facts.hosts_group(&l.text)),
            (Operator::NotIn, Arg::List(items)) => {
                !items.iter().any(|l| facts.hosts_group(&l.text))
            }
            (Operator::Matches, Arg::Pattern(p)) => facts.any_group(&mut |g| p.regex.is_match(g)),
            (Operator::NotMatches, Arg::Pattern(p)) => {
                !facts.any_group(&mut |g| p.regex.is_match(g))
            }
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::Expression;
    use crate::{ContainerInstance, InstanceStatus};

    fn instance() -> ContainerInstance {
        let mut i =
            ContainerInstance::new("arn:aws:ecs:us-east-1:1:container-instance/c/a", 1024, 2048)
                .with_attribute("ecs.instance-type", Some("t2.small"))
                .with_attribute("ecs.availability-zone", Some("us-east-1a"))
                .with_attribute("stack", Some("prod"))
                .with_attribute("ecs.capability.gpu", None)
                .with_attribute("cores", Some("16"));
        i.ec2_instance_id = Some("i-abcd1234".into());
        i.agent_version = Some("1.14.4".into());
        i.registered_at = Some(1_518_480_000 + 3600); // 2018-02-13T01:00:00Z
        i.running_tasks_count = 1;
        i.task_groups.insert("service:production".into(), 1);
        i.task_groups.insert("family:old".into(), 0);
        i
    }

    fn check(src: &str, expected: bool) {
        let e = Expression::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(e.matches(&instance()), expected, "{src}");
    }

    #[test]
    fn attribute_operators() {
        check("attribute:ecs.instance-type == t2.small", true);
        check("attribute:ecs.instance-type equals t2.medium", false);
        check("attribute:ecs.instance-type =~ t2.*", true);
        check("attribute:ecs.instance-type =~ t2", false);
        check("attribute:ecs.instance-type !~ 'g2\\..*'", true);
        check(
            "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
            true,
        );
        check("attribute:ecs.availability-zone not_in [us-east-1a]", false);
        check("attribute:stack != prod", false);
        check("attribute:stack != dev", true);
        // != and !in need the attribute to exist; `not(==)` does not.
        check("attribute:team != dev", false);
        check("attribute:team !in [dev]", false);
        check("not(attribute:team == dev)", true);
        check("attribute:ecs.capability.gpu exists", true);
        check("attribute:team !exists", true);
        check("attribute:team exists", false);
        check("attribute:cores > 8", true);
        check("attribute:cores >= 16 and attribute:cores <= 16", true);
        check("attribute:cores < 9", false);
    }

    #[test]
    fn field_subjects() {
        check("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", true);
        check("ec2InstanceId =~ 'i-.*'", true);
        check("ec2InstanceId != i-abcd1234", false);
        check("agentConnected == true", true);
        check("agentConnected == FALSE", false);
        check("agentVersion < 1.14.5", true);
        check("agentVersion >= 1.9", true);
        check("registeredAt < 2018-02-14", true);
        check("registeredAt == 2018-02-13", true);
        check("registeredAt > 2018-02-13T00:30:00Z", true);
        check("registeredAt < 2018-02-13", false);
        check("runningTasksCount == 1", true);
        check("runningTasksCount > 1", false);
    }

    #[test]
    fn task_group_and_connectives() {
        check("task:group == service:production", true);
        check("task:group == family:old", false);
        check("not(task:group == database)", true);
        check("task:group != service:production", false);
        check("task:group in [database, service:production]", true);
        check("task:group =~ 'service:.*'", true);
        check("task:group !~ 'family:.*'", true);
        check(
            "!(attribute:stack == prod) || attribute:cores == 16 && agentConnected == true",
            true,
        );
        check(
            "(attribute:stack == dev or attribute:cores == 16) and not attribute:team exists",
            true,
        );
    }

    #[test]
    fn missing_fields_select_nothing_but_negations() {
        let mut i = ContainerInstance::new("arn:x", 1, 1);
        i.status = InstanceStatus::Draining;
        for (src, want) in [
            ("ec2InstanceId == i-1", false),
            ("ec2InstanceId != i-1", false),
            ("agentVersion > 0", false),
            ("registeredAt > 1970-01-01", false),
            ("not(ec2InstanceId == i-1)", true),
        ] {
            assert_eq!(Expression::parse(src).unwrap().matches(&i), want, "{src}");
        }
    }
}
