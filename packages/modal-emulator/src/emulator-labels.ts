import { LABELS } from "@sandbox/docker-engine";

/** Label every emulator container, volume and image carries: the engine layer's own "managed" label. */
export const MANAGED_LABEL = LABELS.managed;
/** Label naming the component that created a resource. */
export const COMPONENT_LABEL = "dev.sandbox.component";
/** Label naming the emulator instance that owns a resource (what `stop()` removes). */
export const INSTANCE_LABEL = "dev.sandbox.modal-emulator.instance";

/** Labels naming the Modal object a Docker resource stands for. */
export const MODAL_OBJECT_LABELS = {
  sandboxId: "dev.sandbox.modal-emulator.sandbox-id",
  appId: "dev.sandbox.modal-emulator.app-id",
  volumeId: "dev.sandbox.modal-emulator.volume-id",
  volumeName: "dev.sandbox.modal-emulator.volume-name",
} as const;
