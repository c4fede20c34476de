//! ClusterRole aggregation, as Kubernetes' `clusterrole-aggregation` controller computes it
//! (`pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go`), to its
//! fixpoint, with the cases that have no single live-cluster answer reported.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::names::{is_label_value, is_qualified_name};
use crate::policy::{ClusterRole, LabelSelector, Policy, PolicyRule};

/// Longest a cyclic aggregation is iterated before the result is taken as it stands.
const MAX_PASSES: usize = 64;

/// Something about aggregation that a live cluster could resolve differently.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AggregationWarning {
    /// These aggregated roles select each other: the live result depends on initial
    /// contents and sync order. The rules computed here come from syncing in name order.
    Cycle {
        /// The roles on the cycle, by name.
        roles: Vec<String>,
    },
    /// The role's selectors pick up no rules, so its own rules were replaced by nothing,
    /// as the controller intends; in a live cluster rules owned by another field manager
    /// can survive.
    OwnRulesDropped {
        /// The role.
        role: String,
    },
    /// A selector the controller cannot use: the role keeps its stored rules.
    InvalidSelector {
        /// The role.
        role: String,
        /// Why the selector is invalid.
        reason: String,
    },
}

impl fmt::Display for AggregationWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AggregationWarning::Cycle { roles } => write!(
                f,
                "aggregated cluster roles select each other ({}); the result depends on sync order",
                roles.join(", ")
            ),
            AggregationWarning::OwnRulesDropped { role } => write!(
                f,
                "aggregated cluster role `{role}` selects no rules; its own rules were dropped"
            ),
            AggregationWarning::InvalidSelector { role, reason } => write!(
                f,
                "aggregated cluster role `{role}` has an invalid selector ({reason}); its rules are left as stored"
            ),
        }
    }
}

/// Checks a selector as `metav1.LabelSelectorAsSelector` does.
pub(crate) fn validate_selector(selector: &LabelSelector) -> Result<(), String> {
    for (key, value) in &selector.match_labels {
        if !is_qualified_name(key) {
            return Err(format!("invalid label key `{key}`"));
        }
        if !is_label_value(value) {
            return Err(format!("invalid label value `{value}`"));
        }
    }
    for requirement in &selector.match_expressions {
        if !is_qualified_name(&requirement.key) {
            return Err(format!("invalid label key `{}`", requirement.key));
        }
        match requirement.operator.as_str() {
            "In" | "NotIn" => {
                if requirement.values.is_empty() {
                    return Err(format!(
                        "operator `{}` needs at least one value",
                        requirement.operator
                    ));
                }
                if let Some(value) = requirement.values.iter().find(|v| !is_label_value(v)) {
                    return Err(format!("invalid label value `{value}`"));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !requirement.values.is_empty() {
                    return Err(format!(
                        "operator `{}` takes no values",
                        requirement.operator
                    ));
                }
            }
            other => return Err(format!("unknown operator `{other}`")),
        }
    }
    Ok(())
}

/// Whether `labels` satisfy `selector` (all of its requirements; an empty selector matches
/// everything).
pub(crate) fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector
        .match_labels
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value))
        && selector.match_expressions.iter().all(|requirement| {
            let value = labels.get(&requirement.key);
            match requirement.operator.as_str() {
                "In" => value.is_some_and(|v| requirement.values.contains(v)),
                "NotIn" => value.is_none_or(|v| !requirement.values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

/// The roles an aggregated role selects, by name, excluding itself (the controller's
/// `List(selector)`, sorted by name, per selector in order).
fn selected<'a>(
    role: &'a ClusterRole,
    selectors: &'a [LabelSelector],
    roles: &'a BTreeMap<String, ClusterRole>,
) -> impl Iterator<Item = &'a str> + 'a {
    selectors.iter().flat_map(move |selector| {
        roles
            .values()
            .filter(move |candidate| {
                candidate.name != role.name && selector_matches(selector, &candidate.labels)
            })
            .map(|candidate| candidate.name.as_str())
    })
}

/// One sync of one aggregated role (`syncClusterRole`): the rules of the roles its
/// selectors pick, in selector order then name order, without duplicates.
fn sync(
    role: &ClusterRole,
    selectors: &[LabelSelector],
    roles: &BTreeMap<String, ClusterRole>,
) -> Vec<PolicyRule> {
    let mut rules: Vec<PolicyRule> = Vec::new();
    for name in selected(role, selectors, roles) {
        for rule in roles
            .get(name)
            .map(|r| r.rules.as_slice())
            .unwrap_or_default()
        {
            if !rules.contains(rule) {
                rules.push(rule.clone());
            }
        }
    }
    rules
}

impl Policy {
    /// Replaces the rules of every aggregated ClusterRole with what the aggregation
    /// controller would converge to, and reports what a live cluster could do differently.
    ///
    /// Use it on policies read from manifests; a policy read from a live cluster is already
    /// aggregated.
    pub fn aggregate(&mut self) -> Vec<AggregationWarning> {
        let mut warnings = Vec::new();
        let mut usable: Vec<String> = Vec::new();
        for role in self.cluster_roles.values() {
            let Some(selectors) = &role.aggregation else {
                continue;
            };
            match selectors.iter().try_for_each(validate_selector) {
                Ok(()) => usable.push(role.name.clone()),
                Err(reason) => warnings.push(AggregationWarning::InvalidSelector {
                    role: role.name.clone(),
                    reason,
                }),
            }
        }
        warnings.extend(self.aggregation_cycles(&usable));
        let had_own_rules: BTreeSet<String> = usable
            .iter()
            .filter(|name| {
                self.cluster_roles
                    .get(*name)
                    .is_some_and(|r| !r.rules.is_empty())
            })
            .cloned()
            .collect();

        for _ in 0..MAX_PASSES {
            let mut changed = false;
            for name in &usable {
                let Some(role) = self.cluster_roles.get(name) else {
                    continue;
                };
                let selectors = role.aggregation.as_deref().unwrap_or_default();
                let rules = sync(role, selectors, &self.cluster_roles);
                if let Some(role) = self.cluster_roles.get_mut(name)
                    && role.rules != rules
                {
                    role.rules = rules;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        for name in &usable {
            if let Some(role) = self.cluster_roles.get(name)
                && role.rules.is_empty()
                && had_own_rules.contains(name)
            {
                warnings.push(AggregationWarning::OwnRulesDropped { role: name.clone() });
            }
        }
        warnings
    }

    /// Groups of aggregated roles that select each other, each sorted by name.
    fn aggregation_cycles(&self, aggregated: &[String]) -> Vec<AggregationWarning> {
        let aggregated_set: BTreeSet<&str> = aggregated.iter().map(String::as_str).collect();
        let edges: BTreeMap<&str, BTreeSet<&str>> = aggregated
            .iter()
            .filter_map(|name| {
                let role = self.cluster_roles.get(name)?;
                let selectors = role.aggregation.as_deref()?;
                let targets = selected(role, selectors, &self.cluster_roles)
                    .filter(|target| aggregated_set.contains(target))
                    .collect();
                Some((name.as_str(), targets))
            })
            .collect();
        let reaches = |from: &str, to: &str| -> bool {
            let mut seen = BTreeSet::new();
            let mut stack = vec![from];
            while let Some(current) = stack.pop() {
                for &next in edges.get(current).into_iter().flatten() {
                    if next == to {
                        return true;
                    }
                    if seen.insert(next) {
                        stack.push(next);
                    }
                }
            }
            false
        };
        let mut reported: BTreeSet<&str> = BTreeSet::new();
        let mut warnings = Vec::new();
        for &name in aggregated_set.iter() {
            if reported.contains(name) || !reaches(name, name) {
                continue;
            }
            let cycle: Vec<String> = aggregated_set
                .iter()
                .filter(|&&other| other == name || (reaches(name, other) && reaches(other, name)))
                .map(|other| (*other).to_owned())
                .collect();
            reported.extend(
                aggregated_set
                    .iter()
                    .filter(|n| cycle.iter().any(|c| c == *n)),
            );
            warnings.push(AggregationWarning::Cycle { roles: cycle });
        }
        warnings
    }
}
