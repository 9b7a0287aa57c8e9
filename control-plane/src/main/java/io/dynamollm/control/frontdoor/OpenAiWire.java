package io.dynamollm.control.frontdoor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.pekko.util.ByteString;

/**
 * The OpenAI wire format of answers, written once for the front door and for {@code engine-sim}: a whole completion
 * or chat completion, the chunks of a stream (server-sent events ending in {@code data: [DONE]}), usage.
 */
public final class OpenAiWire {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** The stream's last event. */
  public static final ByteString DONE = ByteString.fromString("data: [DONE]\n\n");

  /** One answer's identity: its id, whether it is a chat, when it was created, the model. */
  public record Answer(String id, boolean chat, long created, String model) {
    public static Answer of(long requestId, boolean chat, String model) {
      return new Answer((chat ? "chatcmpl-" : "cmpl-") + Long.toHexString(requestId), chat,
          System.currentTimeMillis() / 1000, model);
    }

    private ObjectNode head(String object) {
      ObjectNode r = JSON.createObjectNode();
      r.put("id", id);
      r.put("object", object);
      r.put("created", created);
      r.put("model", model);
      return r;
    }

    /**
     * A chunk with a piece of text ({@code first}: a chat's chunk then names the role), or the finish (text ignored,
     * {@code finishReason} given); {@code usageNull}: the client asked for usage, which only the usage chunk holds.
     */
    public ObjectNode chunk(String text, boolean first, String finishReason, boolean usageNull) {
      ObjectNode c = head(chat ? "chat.completion.chunk" : "text_completion");
      ObjectNode ch = c.putArray("choices").addObject();
      ch.put("index", 0);
      if (chat) {
        ObjectNode delta = ch.putObject("delta");
        if (first && finishReason == null) {
          delta.put("role", "assistant");
        }
        if (finishReason == null) {
          delta.put("content", text);
        }
      } else {
        ch.put("text", finishReason == null ? text : "");
      }
      ch.putNull("logprobs");
      if (finishReason == null) {
        ch.putNull("finish_reason");
      } else {
        ch.put("finish_reason", finishReason);
      }
      if (usageNull) {
        c.putNull("usage");
      }
      return c;
    }

    /** The usage chunk ({@code stream_options.include_usage}): no choices. */
    public ObjectNode usageChunk(ObjectNode usage) {
      ObjectNode c = head(chat ? "chat.completion.chunk" : "text_completion");
      c.putArray("choices");
      c.set("usage", usage);
      return c;
    }

    /** The whole answer. */
    public ObjectNode whole(String text, String finishReason, ObjectNode usage) {
      ObjectNode r = head(chat ? "chat.completion" : "text_completion");
      ObjectNode ch = r.putArray("choices").addObject();
      ch.put("index", 0);
      if (chat) {
        ObjectNode m = ch.putObject("message");
        m.put("role", "assistant");
        m.put("content", text);
        m.putNull("refusal");
      } else {
        ch.put("text", text);
      }
      ch.putNull("logprobs");
      ch.put("finish_reason", finishReason);
      r.set("usage", usage);
      return r;
    }
  }

  private OpenAiWire() {}

  /** OpenAI's usage object. */
  public static ObjectNode usage(int promptTokens, int completionTokens) {
    ObjectNode u = JSON.createObjectNode();
    u.put("prompt_tokens", promptTokens);
    u.put("completion_tokens", completionTokens);
    u.put("total_tokens", promptTokens + completionTokens);
    return u;
  }

  /** One server-sent event. */
  public static ByteString event(JsonNode data) {
    return ByteString.fromString("data: " + data + "\n\n");
  }
}
