package io.dynamollm.control.frontdoor;

import java.util.List;

/**
 * How chat messages become one prompt, for counting its tokens (an engine that speaks the chat API applies its own
 * template to the messages it gets unchanged; the simulated engine is served the rendered prompt). Two documented
 * templates ({@code dynamollm.front-door.chat-template}):
 *
 * <ul>
 *   <li>{@code llama-2}: Llama 2 chat's — {@code <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant}
 *       </s><s>[INST] {user} [/INST]};
 *   <li>{@code chatml}: {@code <|im_start|>{role}\n{content}<|im_end|>\n} per message, then
 *       {@code <|im_start|>assistant\n}.
 * </ul>
 */
public enum ChatTemplate {
  LLAMA_2, CHATML;

  /** One chat message: its role and its text. */
  public record Message(String role, String content) {}

  public static ChatTemplate named(String name) {
    return switch (name) {
      case "llama-2" -> LLAMA_2;
      case "chatml" -> CHATML;
      default -> throw new IllegalArgumentException("unknown chat template '" + name + "' (llama-2, chatml)");
    };
  }

  /** The prompt the model sees for {@code messages}, ending where the assistant's answer begins. */
  public String render(List<Message> messages) {
    StringBuilder b = new StringBuilder();
    if (this == CHATML) {
      for (Message m : messages) {
        b.append("<|im_start|>").append(m.role()).append('\n').append(m.content()).append("<|im_end|>\n");
      }
      return b.append("<|im_start|>assistant\n").toString();
    }
    String system = null;
    boolean open = false;
    for (Message m : messages) {
      switch (m.role()) {
        case "system", "developer" -> system = system == null ? m.content() : system + "\n" + m.content();
        case "assistant" -> {
          b.append(' ').append(m.content().strip()).append(" </s>");
          open = false;
        }
        default -> { // user, tool
          b.append("<s>[INST] ");
          if (system != null) {
            b.append("<<SYS>>\n").append(system).append("\n<</SYS>>\n\n");
            system = null;
          }
          b.append(m.content().strip()).append(" [/INST]");
          open = true;
        }
      }
    }
    if (!open && system != null) {
      b.append("<s>[INST] <<SYS>>\n").append(system).append("\n<</SYS>>\n\n [/INST]");
    }
    return b.toString();
  }
}
