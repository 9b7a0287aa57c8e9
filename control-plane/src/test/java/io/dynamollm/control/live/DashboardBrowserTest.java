package io.dynamollm.control.live;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import java.util.logging.Level;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;

/**
 * The dashboard in headless Chromium through Selenium (Debian's chromium and chromium-driver; .ci/run installs
 * them), on a real 3-node cluster 50× faster than real time: the page loads without console errors, shows every
 * pool, and its load chart moves when requests arrive. A screenshot goes to target/dashboard.png.
 */
class DashboardBrowserTest {
  private static final Path CHROMIUM = Path.of(System.getProperty("dynamollm.chromium", "/usr/bin/chromium"));
  private static final Path DRIVER = Path.of(System.getProperty("dynamollm.chromedriver", "/usr/bin/chromedriver"));

  @TempDir Path dir;

  @Test
  void theDashboardShowsEveryPoolAndItsChartsFollowTheLoad() throws Exception {
    assertThat(Files.isExecutable(CHROMIUM) && Files.isExecutable(DRIVER))
        .as("the browser test needs Debian's chromium and chromium-driver (apt-get install chromium"
            + " chromium-driver; .ci/run installs them), or -Ddynamollm.chromium=… -Ddynamollm.chromedriver=…")
        .isTrue();
    try (var cluster = new ThreeNodeCluster(dir, MemoizedProfile.of(Profiles.h100()), 50)) {
      assertThat(await(Duration.ofSeconds(60), () -> ready(cluster))).as("an instance serves").isTrue();
      int admin = cluster.control.adminAddress().orElseThrow().getPort();
      int door = cluster.control.frontDoorAddress().orElseThrow().getPort();
      ChromeOptions o = new ChromeOptions();
      o.setBinary(CHROMIUM.toFile());
      o.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=1400,1800");
      LoggingPreferences logs = new LoggingPreferences();
      logs.enable(LogType.BROWSER, Level.ALL);
      o.setCapability("goog:loggingPrefs", logs);
      ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(DRIVER.toFile())
          .usingAnyFreePort().build();
      ChromeDriver browser = new ChromeDriver(service, o);
      try {
        browser.get("http://127.0.0.1:" + admin + "/dashboard");
        JavascriptExecutor js = browser;
        assertThat(await(Duration.ofSeconds(20), () -> number(js, "return window.dashboard.polls") >= 2))
            .as("the page polled the API").isTrue();
        // every pool the API lists is on the page
        List<String> pools = new ArrayList<>();
        cluster.get("/api/v1/pools").forEach(p -> pools.add(p.get("pool").asText()));
        assertThat(pools).isNotEmpty();
        assertThat(await(Duration.ofSeconds(10), () -> pools.stream().allMatch(p ->
            !browser.findElements(By.cssSelector("[data-pool='" + p + "']")).isEmpty()))).isTrue();
        assertThat(browser.findElements(By.cssSelector("#chart-power canvas"))).isNotEmpty();
        double before = maxObserved(js);
        // load: requests through the front door
        HttpClient http = HttpClient.newHttpClient();
        List<CompletableFuture<HttpResponse<String>>> sent = new ArrayList<>();
        for (int k = 0; k < 40; k++) {
          sent.add(http.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + door + "/v1/completions"))
              .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                  "{\"model\": \"meta-llama/Llama-2-70b-chat-hf\", \"prompt\": \"Hello there\", \"max_tokens\": 20}"))
              .build(), HttpResponse.BodyHandlers.ofString()));
          Thread.sleep(50);
        }
        assertThat(await(Duration.ofSeconds(30), () -> maxObserved(js) > before))
            .as("the load chart shows the requests (observed load above %s req/s)", before).isTrue();
        CompletableFuture.allOf(sent.toArray(new CompletableFuture[0])).get();
        assertThat(await(Duration.ofSeconds(10), () -> !browser.findElements(
            By.cssSelector("#attainment-types .bar .fill[style*='%']")).isEmpty())).isTrue();
        // the limits form sets a watt budget through the admin API with the token; the power chart draws it
        browser.findElement(By.id("token")).sendKeys("t");
        browser.findElement(By.id("power_budget_w")).sendKeys("50000");
        browser.findElement(By.cssSelector("#limits-form button")).click();
        assertThat(await(Duration.ofSeconds(10), () -> browser.findElement(By.id("form-result")).getText()
            .contains("limits saved"))).as(browser.findElement(By.id("form-result")).getText()).isTrue();
        assertThat(cluster.get("/api/v1/limits").get("power_budget_w").asDouble()).isEqualTo(50000.0);
        assertThat(await(Duration.ofSeconds(10), () -> number(js, "const u = window.dashboard.charts.power;"
            + " return u && u.data[2].length ? u.data[2][u.data[2].length - 1] : 0") == 50.0))
            .as("the power chart draws the 50 kW budget").isTrue();
        Files.createDirectories(Path.of("target"));
        Files.write(Path.of("target", "dashboard.png"), browser.getScreenshotAs(OutputType.BYTES));
        List<String> errors = browser.manage().logs().get(LogType.BROWSER).getAll().stream()
            .filter(e -> e.getLevel().intValue() >= Level.SEVERE.intValue()).map(LogEntry::getMessage).toList();
        assertThat(errors).as("console errors").isEmpty();
        assertThat(number(js, "return window.dashboard.errors")).isZero();
      } finally {
        browser.quit();
      }
    }
  }

  private static boolean ready(ThreeNodeCluster c) {
    try {
      for (JsonNode p : c.get("/api/v1/pools")) {
        for (JsonNode i : p.get("instances")) {
          if (i.get("state").asText().equals("ready")) {
            return true;
          }
        }
      }
    } catch (Exception e) {
      return false;
    }
    return false;
  }

  /** The largest observed load the load chart holds (its odd series after the time axis). */
  private static double maxObserved(JavascriptExecutor js) {
    return number(js, "const u = window.dashboard.charts.load; if (!u) return 0; let m = 0;"
        + " for (let s = 1; s < u.data.length; s += 2) for (const v of u.data[s]) if (v != null && v > m) m = v;"
        + " return m;");
  }

  private static double number(JavascriptExecutor js, String script) {
    Object v = js.executeScript(script);
    return v instanceof Number n ? n.doubleValue() : 0;
  }

  private static boolean await(Duration d, BooleanSupplier ok) throws InterruptedException {
    long end = System.nanoTime() + d.toNanos();
    while (System.nanoTime() < end) {
      if (ok.getAsBoolean()) {
        return true;
      }
      Thread.sleep(250);
    }
    return ok.getAsBoolean();
  }
}
