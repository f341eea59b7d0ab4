import * as z from 'zod/mini';
import { AccountId } from './formats';

export const LIMITS = {
  rules: 25,
  requirementsPerRule: 10,
  membersPerGroup: 100,
} as const;

export const Requirement = z
  .strictObject({
    group: z
      .string()
      .check(z.trim(), z.minLength(1, 'Give the group a name'), z.maxLength(60, 'Group names are at most 60 characters')),
    members: z
      .array(AccountId)
      .check(
        z.minLength(1, 'A group needs at least one member'),
        z.maxLength(LIMITS.membersPerGroup, `A group has at most ${LIMITS.membersPerGroup} members`),
        z.refine((ids) => new Set(ids).size === ids.length, 'A member is listed twice'),
      ),
    count: z.int('The count is a whole number').check(z.minimum(1, 'At least 1 signature is required')),
  })
  .check(
    z.refine((r) => r.count <= r.members.length, {
      message: 'The count cannot exceed the number of members',
      path: ['count'],
    }),
  );
export type Requirement = z.infer<typeof Requirement>;

/** A list of requirements, as a merge rule or an environment policy holds them. */
export const Requirements = z
  .array(Requirement)
  .check(
    z.minLength(1, 'At least one requirement is needed'),
    z.maxLength(LIMITS.requirementsPerRule, `At most ${LIMITS.requirementsPerRule} requirements`),
    z.refine((reqs) => new Set(reqs.map((r) => r.group.toLowerCase())).size === reqs.length, 'Two requirements share a group name'),
  );
