/**
 * Value types shared by every setting read from the environment (or a flag), so that a word means the same
 * for every variable.
 */
import { z } from 'zod';

/**
 * A yes/no setting: true/false, 1/0, yes/no, on/off, y/n, enabled/disabled, in any case, surrounding blanks
 * ignored. Anything else is an error naming the variable, never a silent false.
 */
export const envBoolean = z.string().trim().pipe(z.stringbool());
