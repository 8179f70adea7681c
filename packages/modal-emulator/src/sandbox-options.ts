import { ServerError, Status } from "nice-grpc";

/**
 * Cloud providers Modal accepts for `cloud` (its docs: "aws", "gcp", "oci",
 * "auto"); anything else is refused with INVALID_ARGUMENT, as Modal refuses it.
 * The emulator runs every sandbox on the local Docker engine whichever is named.
 */
export const MODAL_CLOUD_PROVIDERS: readonly string[] = ["aws", "gcp", "oci", "auto"];

/**
 * Region names Modal documents for `regions` (region selection guide): the
 * broad regions and the cloud-specific ones. Anything else is refused with
 * INVALID_ARGUMENT. Placement has no local meaning: all run here.
 */
export const MODAL_REGIONS: readonly string[] = [
  // Broad regions.
  "us",
  "eu",
  "uk",
  "ap",
  "jp",
  "ca",
  "au",
  "me",
  "sa",
  "af",
  "mx",
  // AWS.
  "us-east-1",
  "us-east-2",
  "us-west-1",
  "us-west-2",
  "eu-west-1",
  "eu-west-2",
  "eu-west-3",
  "eu-central-1",
  "eu-north-1",
  "eu-south-1",
  "eu-south-2",
  "ap-northeast-1",
  "ap-northeast-2",
  "ap-northeast-3",
  "ap-south-1",
  "ap-southeast-1",
  "ap-southeast-2",
  "ap-southeast-3",
  "ap-east-1",
  "ca-central-1",
  "sa-east-1",
  "me-central-1",
  "me-south-1",
  "af-south-1",
  "mx-central-1",
  // GCP.
  "us-central1",
  "us-east1",
  "us-east4",
  "us-east5",
  "us-south1",
  "us-west1",
  "us-west2",
  "us-west3",
  "us-west4",
  "northamerica-northeast1",
  "northamerica-northeast2",
  "europe-west1",
  "europe-west2",
  "europe-west3",
  "europe-west4",
  "europe-west6",
  "europe-west8",
  "europe-west9",
  "europe-west12",
  "europe-north1",
  "europe-central2",
  "europe-southwest1",
  "asia-east1",
  "asia-east2",
  "asia-northeast1",
  "asia-northeast2",
  "asia-northeast3",
  "asia-south1",
  "asia-south2",
  "asia-southeast1",
  "asia-southeast2",
  "australia-southeast1",
  "australia-southeast2",
  "southamerica-east1",
  "southamerica-west1",
  "me-central1",
  "me-central2",
  "me-west1",
  "africa-south1",
  // OCI.
  "us-ashburn-1",
  "us-chicago-1",
  "us-phoenix-1",
  "us-sanjose-1",
  "eu-frankfurt-1",
  "eu-paris-1",
  "eu-madrid-1",
  "eu-milan-1",
  "eu-stockholm-1",
  "uk-london-1",
  "ap-tokyo-1",
  "ap-osaka-1",
  "ap-mumbai-1",
  "ap-singapore-1",
  "ap-sydney-1",
  "ap-melbourne-1",
  "ca-toronto-1",
  "ca-montreal-1",
  "sa-saopaulo-1",
  "me-dubai-1",
  "il-jerusalem-1",
];

/**
 * Experimental options the emulator refuses by name, with why: they cannot be
 * done faithfully on a local Docker engine without weakening the host.
 */
const REFUSED_EXPERIMENTAL_OPTIONS: Record<string, string> = {
  enable_docker:
    "modal-emulator does not run Docker inside sandboxes (experimentalOptions.enable_docker): " +
    "a Docker daemon in a container needs a privileged container, which would give the sandbox the host",
};

/** The part of a sandbox definition these checks read. */
export interface PlacementDefinition {
  cloudProviderStr?: string;
  schedulerPlacement?: { regions?: string[] } | undefined;
  experimentalOptionsV2?: Record<string, string | undefined>;
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && !/^(false|0|no|off|)$/i.test(value.trim());
}

/**
 * Refuses what Modal refuses in a create's placement and experimental options.
 * @throws ServerError INVALID_ARGUMENT naming the bad value and the valid ones.
 */
export function validatePlacementAndOptions(definition: PlacementDefinition): void {
  const cloud = definition.cloudProviderStr ?? "";
  if (cloud !== "" && !MODAL_CLOUD_PROVIDERS.includes(cloud.toLowerCase())) {
    throw new ServerError(Status.INVALID_ARGUMENT, `Invalid cloud provider '${cloud}': must be one of ${MODAL_CLOUD_PROVIDERS.join(", ")}`);
  }
  const invalidRegions = (definition.schedulerPlacement?.regions ?? []).filter((region) => !MODAL_REGIONS.includes(region));
  if (invalidRegions.length > 0) {
    throw new ServerError(
      Status.INVALID_ARGUMENT,
      `Invalid region(s): ${invalidRegions.map((region) => `'${region}'`).join(", ")}. ` +
        "See https://modal.com/docs/guide/region-selection for the regions Modal accepts (broad ones such as 'us', 'eu', 'ap', or cloud regions such as 'us-east-1').",
    );
  }
  for (const [name, value] of Object.entries(definition.experimentalOptionsV2 ?? {})) {
    const why = REFUSED_EXPERIMENTAL_OPTIONS[name];
    if (why && truthy(value)) throw new ServerError(Status.INVALID_ARGUMENT, why);
  }
}
