package io.dynamollm.app.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code ./dynamollm}: the command-line entry point. */
@Command(
    name = "dynamollm",
    mixinStandardHelpOptions = true,
    versionProvider = DynamoLlmCli.Version.class,
    description = "Energy-optimal control plane for LLM inference clusters (after DynamoLLM, HPCA 2025).",
    subcommands = {ProfileCommand.class, SimulateCommand.class, GpuCommand.class, NodeCommand.class, PlanCommand.class,
        EngineSimCommand.class,
        CommandLine.HelpCommand.class})
public final class DynamoLlmCli implements Runnable {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    // logging is set up here, on one thread, before any other starts: SLF4J then has nothing to replay (it warns
    // about loggers used by several threads while it initializes)
    org.slf4j.LoggerFactory.getILoggerFactory();
    System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
  }

  /** Runs the CLI with the given streams; returns the exit code (0 ok, 1 failure, 2 usage error). */
  public static int run(String[] args, PrintWriter out, PrintWriter err) {
    CommandLine cli = new CommandLine(new DynamoLlmCli());
    cli.setOut(out);
    cli.setErr(err);
    cli.setParameterExceptionHandler(DynamoLlmCli::usageError);
    cli.setExecutionExceptionHandler(DynamoLlmCli::failure);
    return cli.execute(args);
  }

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** A wrong flag or value: one line saying what, then the usage of that command; exit 2. */
  private static int usageError(CommandLine.ParameterException e, String[] args) {
    CommandLine cmd = e.getCommandLine();
    PrintWriter err = cmd.getErr();
    err.println("error: " + e.getMessage());
    cmd.usage(err);
    return CommandLine.ExitCode.USAGE;
  }

  /**
   * A failure while running. Mistakes a user can fix (bad config, bad value) are {@link IllegalArgumentException}s
   * and print one line; anything else is a bug and keeps its stack trace for the report.
   */
  private static int failure(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) {
    PrintWriter err = cmd.getErr();
    if (e instanceof IllegalArgumentException || e instanceof UserError) {
      err.println("error: " + e.getMessage());
      return 1;
    }
    err.println("internal error (please report): " + e);
    e.printStackTrace(err);
    return 1;
  }

  /** A condition the user can act on, reported as one line. */
  static final class UserError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    UserError(String message) {
      super(message);
    }
  }

  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = DynamoLlmCli.class.getPackage().getImplementationVersion();
      return new String[] {"dynamollm " + (v == null ? "development build" : v)};
    }
  }
}
