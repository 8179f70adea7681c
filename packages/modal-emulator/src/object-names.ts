import { Status } from "nice-grpc";
import { fail } from "./grpc-errors.js";

const OBJECT_NAME_CHARSET = /^[a-zA-Z0-9\-_.]+$/;
const APP_ID_PATTERN = /^ap-[a-zA-Z0-9]{22}$/;

/**
 * Refuses a name Modal refuses for a new app or volume, by the rule the SDK
 * applies itself to sandbox and image names: letters, digits, `-`, `_`, `.`,
 * at most 64 characters, not shaped like an app id.
 * @throws ServerError INVALID_ARGUMENT naming the kind and the name.
 */
export function checkObjectName(name: string, kind: "App" | "Volume"): void {
  if (name.length > 0 && name.length <= 64 && OBJECT_NAME_CHARSET.test(name) && !APP_ID_PATTERN.test(name)) return;
  fail(
    Status.INVALID_ARGUMENT,
    `Invalid ${kind} name: '${name}'. Names may contain only alphanumeric characters, dashes, periods, and underscores, must be shorter than 64 characters, and cannot conflict with App ID strings.`,
  );
}
