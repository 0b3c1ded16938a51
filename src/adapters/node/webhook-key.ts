/**
 * @module
 * Where the key that encrypts webhook signing secrets comes from on Node: WEBHOOK_SECRET_KEY when
 * set; otherwise, on the embedded store, a random key generated on first use and kept in
 * DATA_DIR/webhook-secret.key (mode 0600) beside the database; with STORE=redis there is no
 * shared place for a generated key, so endpoints cannot be created until WEBHOOK_SECRET_KEY is set
 * (to the same value on every instance).
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, type GatewayConfig } from "../../config.js";
import { createSecretBox, SECRET_KEY_MIN_LENGTH } from "../../core/secret-box.js";
import type { WebhookPorts } from "../../services.js";
import { nodeResolver } from "./dns-resolver.js";

export const WEBHOOK_KEY_FILE = "webhook-secret.key";

function dataDirKey(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, WEBHOOK_KEY_FILE);
  if (!existsSync(file)) {
    try {
      // wx: two processes starting at once cannot both write a key.
      writeFileSync(file, randomBytes(32).toString("base64") + "\n", { mode: 0o600, flag: "wx" });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  const key = readFileSync(file, "utf8").trim();
  if (key.length < SECRET_KEY_MIN_LENGTH) throw new ConfigError("WEBHOOK_SECRET_KEY", `is not set and ${file} holds no usable key (delete it to generate one)`);
  return key;
}

export function nodeWebhookPorts(config: GatewayConfig): WebhookPorts {
  if (config.WEBHOOK_SECRET_KEY) return { box: createSecretBox(config.WEBHOOK_SECRET_KEY), resolver: nodeResolver };
  if (config.STORE === "sqlite") return { box: createSecretBox(dataDirKey(config.DATA_DIR)), resolver: nodeResolver };
  return {
    box: null,
    secretsUnavailable: "Webhook endpoints cannot be created: with STORE=redis the operator must set WEBHOOK_SECRET_KEY (the same on every instance).",
    resolver: nodeResolver,
  };
}
