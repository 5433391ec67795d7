// Drives `wpod run --ui` in Debian's chromium: node live.mjs URL SCREENSHOT_DIR
// The page must show the pod and its infra container, follow a container's restarts, record the
// infra container being killed, switch to Chinese, and show the pod gone after "Delete pod".
import { chromium } from "playwright-core";

const [url, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
         "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const step = (what) => console.log(`ui: ${what}`);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, locale: "en-US" });
  const pod = 'section[data-pod="demo"]';
  const until = (f, arg, ms = 30000) => page.waitForFunction(f, arg, { timeout: ms });
  await page.goto(url);
  await page.waitForSelector(`${pod} .diagram svg`);
  await page.getByText("infra container · pause").first().waitFor();
  await until((p) => document.querySelector(`${p} [data-phase]`)?.textContent === "Running", pod);
  await until((p) => document.querySelector(`${p} .diagram`)?.textContent.includes("IP 10.88.0."), pod);
  step("the pod runs, its infra container and its IP are drawn");
  await page.screenshot({ path: `${out}/1-running.png`, fullPage: true });

  await until(() => Number(document.querySelector('tr[data-container="client"] [data-restarts]')?.textContent) >= 1, null);
  await until((p) => document.querySelector(`${p} pre`)?.textContent.includes("hello from the volume"), pod);
  step("the client's restart and its log are shown");
  await page.screenshot({ path: `${out}/2-restarted.png`, fullPage: true });

  await page.click(`${pod} button[data-act="kill-infra"]`);
  await until((p) => document.querySelector(`${p} .events`)?.textContent.includes("SandboxChanged"), pod);
  step("killing the infra container recreated the sandbox (SandboxChanged)");

  await page.click("#zh");
  await page.getByText("Infra 容器 · pause").first().waitFor();
  await page.getByText("删除 Pod").first().waitFor();
  step("the page speaks Chinese");
  await page.screenshot({ path: `${out}/3-zh.png`, fullPage: true });

  await page.click(`${pod} button[data-act="delete"]`);
  await until((p) => document.querySelector(`${p} [data-phase]`)?.textContent === "已删除", pod, 60000);
  step("the delete action ended the pod");
  await page.screenshot({ path: `${out}/4-deleted.png`, fullPage: true });
} finally {
  await browser.close();
}
