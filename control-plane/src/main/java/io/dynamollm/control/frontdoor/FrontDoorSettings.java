package io.dynamollm.control.frontdoor;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The front door's settings ({@code dynamollm.front-door}), every mistake named by its key.
 *
 * @param model the model id clients ask for
 * @param maxBodyBytes larger bodies get 413
 * @param apiKeys bearer keys a client must send; empty: none needed
 * @param retryAfter what 429 and 503 answers tell clients to wait
 * @param tokenizer {@code bundled} or {@code huggingface}
 * @param encoding the bundled encoding's name
 * @param tokenizerFile the Hugging Face tokenizer.json (kind huggingface)
 * @param chatTemplate {@code llama-2} or {@code chatml}
 */
public record FrontDoorSettings(boolean enabled, String interfaceName, int port, String model,
    long maxBodyBytes, Set<String> apiKeys, Duration retryAfter, Duration requestTimeout, String tokenizer,
    String encoding, Path tokenizerFile, String chatTemplate) {

  private static final String BASE = "dynamollm.front-door";

  public FrontDoorSettings {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException(BASE + ".port must be a port number 0-65535, got " + port);
    }
    if (model.isBlank()) {
      throw new IllegalArgumentException(BASE + ".model must not be empty");
    }
    if (maxBodyBytes < 1024) {
      throw new IllegalArgumentException(BASE + ".max-body must be at least 1k, got " + maxBodyBytes + " bytes");
    }
    if (retryAfter.isNegative() || requestTimeout.isNegative() || requestTimeout.isZero()) {
      throw new IllegalArgumentException(BASE + ".retry-after must be >= 0 and request-timeout > 0");
    }
    if (!Set.of("bundled", "huggingface").contains(tokenizer)) {
      throw new IllegalArgumentException(BASE + ".tokenizer.kind must be bundled or huggingface, got '" + tokenizer
          + "'");
    }
    if (tokenizer.equals("huggingface") && !Files.isRegularFile(tokenizerFile)) {
      throw new IllegalArgumentException(BASE + ".tokenizer.file: no such file '" + tokenizerFile
          + "' (the served model's tokenizer.json, needed with kind = huggingface)");
    }
    if (!Set.of("llama-2", "chatml").contains(chatTemplate)) {
      throw new IllegalArgumentException(BASE + ".chat-template must be llama-2 or chatml, got '" + chatTemplate + "'");
    }
    apiKeys = Set.copyOf(apiKeys);
  }

  /** From {@code root}; {@code DYNAMOLLM_API_KEYS} in {@code env} (comma-separated) replaces the configured keys. */
  public static FrontDoorSettings fromConfig(Config root, Map<String, String> env) {
    try {
      Config c = root.getConfig(BASE);
      List<String> keys = c.getStringList("api-keys");
      String fromEnv = env.get("DYNAMOLLM_API_KEYS");
      if (fromEnv != null && !fromEnv.isBlank()) {
        keys = List.of(fromEnv.split(",")).stream().map(String::trim).filter(k -> !k.isEmpty()).toList();
      }
      for (String k : keys) {
        if (k.isBlank()) {
          throw new IllegalArgumentException(BASE + ".api-keys: a key must not be empty");
        }
      }
      return new FrontDoorSettings(c.getBoolean("enabled"), c.getString("interface"), c.getInt("port"),
          c.getString("model"), c.getBytes("max-body"), Set.copyOf(keys),
          c.getDuration("retry-after"), c.getDuration("request-timeout"), c.getString("tokenizer.kind"),
          c.getString("tokenizer.encoding"), Path.of(c.getString("tokenizer.file")), c.getString("chat-template"));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("configuration: " + e.getMessage(), e);
    }
  }
}
