package io.dynamollm.control.frontdoor;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dynamollm.instance.engine.Engine;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A client's completion or chat completion, validated as the OpenAI API does — every field dynamollm reads is checked
 * for its type and range, other fields pass through to the engine unchanged (vLLM's extensions such as
 * {@code ignore_eos}, {@code top_k}).
 *
 * @param endpoint {@link Engine.OpenAiCall#COMPLETIONS} or {@link Engine.OpenAiCall#CHAT}
 * @param prompt the prompt text (a chat's messages rendered by the template), or null when given as token ids
 * @param promptTokenIds how many token ids the prompt was given as (0 when text)
 * @param maxTokens the client's limit on output tokens, if given
 * @param includeUsage {@code stream_options.include_usage}
 */
public record ApiRequest(String endpoint, String model, String prompt, int promptTokenIds,
    List<ChatTemplate.Message> messages, boolean stream, boolean includeUsage, OptionalInt maxTokens,
    double temperature, List<String> stop, String user, boolean ignoreEos, String body) {

  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");

  public ApiRequest {
    Objects.requireNonNull(endpoint, "endpoint");
    messages = List.copyOf(messages);
    stop = List.copyOf(stop);
  }

  /** The parsed request, or the error to answer. */
  public sealed interface Parsed permits Ok, Bad {}

  public record Ok(ApiRequest request) implements Parsed {}

  public record Bad(ApiError error) implements Parsed {}

  /** Reads {@code body} sent to {@code endpoint}; chat messages are rendered with {@code template}. */
  public static Parsed parse(String endpoint, String body, ChatTemplate template) {
    boolean chat = endpoint.equals(Engine.OpenAiCall.CHAT);
    JsonNode root;
    try {
      root = JSON.readTree(body);
    } catch (JsonProcessingException e) {
      String why = e.getOriginalMessage().replaceAll("\\s*at \\[Source.*", "").replaceAll("\\s+", " ").trim();
      return bad(null, "We could not parse the JSON body of your request: " + why);
    }
    if (root == null || !root.isObject()) {
      return bad(null, "The body of your request must be a JSON object");
    }
    JsonNode model = root.get("model");
    if (model == null || model.isNull()) {
      return bad("model", "you must provide a model parameter");
    }
    if (!model.isTextual() || model.asText().isBlank()) {
      return bad("model", "'model' must be a non-empty string");
    }
    String prompt = null;
    int ids = 0;
    List<ChatTemplate.Message> messages = new ArrayList<>();
    if (chat) {
      JsonNode m = root.get("messages");
      if (m == null || m.isNull()) {
        return bad("messages", "Missing required parameter: 'messages'");
      }
      if (!m.isArray() || m.isEmpty()) {
        return bad("messages", "'messages' must be a non-empty array of {\"role\", \"content\"} objects");
      }
      for (int k = 0; k < m.size(); k++) {
        JsonNode msg = m.get(k);
        String at = "messages[" + k + "]";
        if (!msg.isObject()) {
          return bad(at, at + " must be an object with 'role' and 'content'");
        }
        JsonNode role = msg.get("role");
        if (role == null || !role.isTextual() || !ROLES.contains(role.asText())) {
          return bad(at + ".role", at + ".role must be one of " + String.join(", ", new java.util.TreeSet<>(ROLES)));
        }
        JsonNode content = msg.get("content");
        String text;
        if (content == null || content.isNull()) {
          if (!role.asText().equals("assistant")) {
            return bad(at + ".content", at + ".content is required");
          }
          text = "";
        } else if (content.isTextual()) {
          text = content.asText();
        } else if (content.isArray()) {
          StringBuilder sb = new StringBuilder();
          for (JsonNode part : content) {
            if (!part.isObject() || !"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
              return bad(at + ".content", at + ".content: only text parts ({\"type\": \"text\", \"text\": …}) are "
                  + "supported");
            }
            sb.append(part.get("text").asText());
          }
          text = sb.toString();
        } else {
          return bad(at + ".content", at + ".content must be a string or an array of text parts");
        }
        messages.add(new ChatTemplate.Message(role.asText(), text));
      }
      prompt = template.render(messages);
    } else {
      JsonNode p = root.get("prompt");
      if (p == null || p.isNull()) {
        return bad("prompt", "Missing required parameter: 'prompt'");
      }
      if (p.isTextual()) {
        prompt = p.asText();
      } else if (p.isArray() && !p.isEmpty() && p.get(0).isInt()) {
        for (JsonNode t : p) {
          if (!t.isInt() || t.asInt() < 0) {
            return bad("prompt", "'prompt' as token ids must be an array of non-negative integers");
          }
        }
        ids = p.size();
      } else if (p.isArray() && p.size() == 1 && p.get(0).isTextual()) {
        prompt = p.get(0).asText();
      } else if (p.isArray() && p.size() > 1) {
        return bad("prompt", "one prompt per request: send the others as requests of their own");
      } else {
        return bad("prompt", "'prompt' must be a string, an array of one string, or an array of token ids");
      }
      if (prompt != null && prompt.isEmpty()) {
        return bad("prompt", "'prompt' must not be empty");
      }
    }
    String limitField = chat && root.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    OptionalInt maxTokens = OptionalInt.empty();
    JsonNode mt = root.get(limitField);
    if (mt != null && !mt.isNull()) {
      if (!mt.isIntegralNumber() || !mt.canConvertToInt() || mt.asInt() < 1) {
        return bad(limitField, "'" + limitField + "' must be a whole number >= 1, got " + mt);
      }
      maxTokens = OptionalInt.of(mt.asInt());
    }
    double temperature = 1.0;
    JsonNode t = root.get("temperature");
    if (t != null && !t.isNull()) {
      if (!t.isNumber() || t.asDouble() < 0 || t.asDouble() > 2) {
        return bad("temperature", "'temperature' must be a number from 0 to 2, got " + t);
      }
      temperature = t.asDouble();
    }
    JsonNode tp = root.get("top_p");
    if (tp != null && !tp.isNull() && (!tp.isNumber() || tp.asDouble() < 0 || tp.asDouble() > 1)) {
      return bad("top_p", "'top_p' must be a number from 0 to 1, got " + tp);
    }
    JsonNode n = root.get("n");
    if (n != null && !n.isNull() && (!n.isIntegralNumber() || n.asInt() != 1)) {
      return bad("n", "only n = 1 is supported: send one request per answer you want, got n = " + n);
    }
    JsonNode bestOf = root.get("best_of");
    if (bestOf != null && !bestOf.isNull() && (!bestOf.isIntegralNumber() || bestOf.asInt() != 1)) {
      return bad("best_of", "only best_of = 1 is supported, got " + bestOf);
    }
    List<String> stop = new ArrayList<>();
    JsonNode s = root.get("stop");
    if (s != null && !s.isNull()) {
      if (s.isTextual()) {
        stop.add(s.asText());
      } else if (s.isArray() && s.size() <= 4) {
        for (JsonNode x : s) {
          if (!x.isTextual()) {
            return bad("stop", "'stop' must be a string or an array of up to 4 strings");
          }
          stop.add(x.asText());
        }
      } else {
        return bad("stop", "'stop' must be a string or an array of up to 4 strings");
      }
    }
    JsonNode st = root.get("stream");
    if (st != null && !st.isNull() && !st.isBoolean()) {
      return bad("stream", "'stream' must be true or false, got " + st);
    }
    boolean stream = st != null && st.asBoolean(false);
    boolean includeUsage = false;
    JsonNode so = root.get("stream_options");
    if (so != null && !so.isNull()) {
      if (!so.isObject()) {
        return bad("stream_options", "'stream_options' must be an object like {\"include_usage\": true}");
      }
      if (!stream) {
        return bad("stream_options", "'stream_options' is only allowed when 'stream' is true");
      }
      JsonNode iu = so.get("include_usage");
      if (iu != null && !iu.isNull() && !iu.isBoolean()) {
        return bad("stream_options.include_usage", "'stream_options.include_usage' must be true or false");
      }
      includeUsage = iu != null && iu.asBoolean(false);
    }
    JsonNode u = root.get("user");
    if (u != null && !u.isNull() && !u.isTextual()) {
      return bad("user", "'user' must be a string");
    }
    JsonNode ie = root.get("ignore_eos");
    if (ie != null && !ie.isNull() && !ie.isBoolean()) {
      return bad("ignore_eos", "'ignore_eos' must be true or false");
    }
    return new Ok(new ApiRequest(endpoint, model.asText(), prompt, ids, messages, stream, includeUsage, maxTokens,
        temperature, stop, u == null || u.isNull() ? null : u.asText(), ie != null && ie.asBoolean(false), body));
  }

  private static Bad bad(String param, String message) {
    return new Bad(ApiError.invalid(param, message));
  }

  /** What the engine is given: the body unchanged, a seed (fixed per prompt at temperature 0), the stop strings. */
  public Engine.OpenAiCall call(long requestId) {
    long seed = temperature == 0 ? (prompt == null ? body : prompt).hashCode() * 0x9E3779B97F4A7C15L
        : requestId * 0xBF58476D1CE4E5B9L ^ System.nanoTime();
    return new Engine.OpenAiCall(endpoint, body, seed, stop, ignoreEos);
  }
}
