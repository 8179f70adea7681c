import { mintObjectId } from "./object-ids.js";
import { checkObjectName } from "./object-names.js";

const DEFAULT_ENVIRONMENT = "main";

/** An app: sandboxes, named and listed, belong to one. */
export interface AppRecord {
  appId: string;
  name: string;
  environmentName: string;
  createdAtSeconds: number;
}

/** The environment a request names, Modal's default (`main`) when it names none. */
export function normalizeEnvironment(name: string | undefined): string {
  return name && name !== "" ? name : DEFAULT_ENVIRONMENT;
}

/** Apps by environment and name, and by id. */
export class AppStore {
  readonly #byKey = new Map<string, AppRecord>();
  readonly #byId = new Map<string, AppRecord>();

  /** The app of this name, created when asked; `undefined` when missing. */
  getOrCreate(name: string, environmentName: string | undefined, createIfMissing: boolean): AppRecord | undefined {
    const environment = normalizeEnvironment(environmentName);
    const key = `${environment}/${name}`;
    let app = this.#byKey.get(key);
    if (!app && createIfMissing) {
      checkObjectName(name, "App");
      app = { appId: mintObjectId("app"), name, environmentName: environment, createdAtSeconds: Date.now() / 1000 };
      this.#byKey.set(key, app);
      this.#byId.set(app.appId, app);
    }
    return app;
  }

  get(appId: string): AppRecord | undefined {
    return this.#byId.get(appId);
  }

  byName(name: string, environmentName: string | undefined): AppRecord | undefined {
    return this.#byKey.get(`${normalizeEnvironment(environmentName)}/${name}`);
  }
}
