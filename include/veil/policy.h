/* libveil policy: resource release policies over attestation claims (in the
 * style of Azure SKR) — and, later, workload policies. */
#ifndef VEIL_POLICY_H
#define VEIL_POLICY_H

#include "veil/base.h"

/* A release policy is a JSON rule:
 *   {"allOf": [rule, ...]}   every rule holds
 *   {"anyOf": [rule, ...]}   at least one holds
 *   {"claim": "name", "<op>": value}
 *     op: equals, notEquals (any JSON value, compared exactly),
 *         greater, greaterOrEquals, less, lessOrEquals (numbers),
 *         exists (true/false).
 * A claim name is looked up literally in the claims object first, then as a
 * dotted path into nested objects ("submods.cpu0.ear.status" style).
 * Evidence from the sample TEE (claim tee == "sample") or from a sim root
 * (claim sim == true) never satisfies a policy that does not name it, i.e.
 * contain {"claim":"tee","equals":"sample"} / {"claim":"sim","equals":true}. */

/* Checks the structure; errors give the JSON path ("allOf[1].claim: missing"). */
int veil_release_policy_validate (const json_t *policy, veil_error_t **err);

/* 1 when the claims satisfy the policy, 0 when not (with *reason saying
 * which rule failed, e.g. "claim 'measurement' does not equal the expected
 * value"), negative with *err when the policy is malformed. */
int veil_release_policy_eval (const json_t *policy, const json_t *claims, char **reason,
                              veil_error_t **err);

#endif
