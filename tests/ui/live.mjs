// Drives the live view in Debian's chromium: node live.mjs SCENARIO URL SCREENSHOT_DIR [KUBECONFIG]
//   run:   `wpod run --ui` of a two-container pod: the pod and its infra container drawn, a
//          container's restarts followed, a readiness probe made to fail and pass again, the
//          infra container killed, the Chinese page, the pod gone after "Delete pod";
//   serve: `wpod serve --ui` after kubectl applied a pod and its Service: the Service drawn in
//          front, the probe made to fail from the page seen by kubectl too;
//   linux: the kernel's namespace ids and the infra's PID as drawn (printed for the test to
//          compare with /proc).
import { execFileSync } from "node:child_process";
import { chromium } from "playwright-core";

const [scenario, url, out, kubeconfig] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
         "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const step = (what) => console.log(`ui: ${what}`);
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, locale: "en-US" });
const until = (f, arg, ms = 30000) => page.waitForFunction(f, arg, { timeout: ms });
const text = (sel) => until((s) => document.querySelector(s) !== null, sel)
  .then(() => page.evaluate((s) => document.querySelector(s).textContent, sel));
const ready = (pod, container) =>
  `section[data-pod="${pod}"] tr[data-container="${container}"] [data-ready]`;
const readyIs = (sel, value) => until(([s, v]) => document.querySelector(s)?.textContent === v, [sel, value]);

async function run() {
  const pod = 'section[data-pod="demo"]';
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

  await readyIs(ready("demo", "web"), "true");
  await page.click(`${pod} tr[data-container="web"] button[data-probe="Readiness"]`);
  await readyIs(ready("demo", "web"), "false");
  await until((p) => document.querySelector(`${p} .events`)?.textContent.includes("made to fail on request"), pod);
  step("the readiness probe made to fail took the container out of Ready");
  await page.screenshot({ path: `${out}/3-probe-failing.png`, fullPage: true });
  await page.click(`${pod} tr[data-container="web"] button[data-probe="Readiness"]`);
  await readyIs(ready("demo", "web"), "true");
  step("the probe let pass made it Ready again");

  await page.click(`${pod} button[data-act="kill-infra"]`);
  await until((p) => document.querySelector(`${p} .events`)?.textContent.includes("SandboxChanged"), pod);
  step("killing the infra container recreated the sandbox (SandboxChanged)");

  await page.click("#zh");
  await page.getByText("Infra 容器 · pause").first().waitFor();
  await page.getByText("删除 Pod").first().waitFor();
  step("the page speaks Chinese");
  await page.screenshot({ path: `${out}/4-zh.png`, fullPage: true });

  await page.click(`${pod} button[data-act="delete"]`);
  await until((p) => document.querySelector(`${p} [data-phase]`)?.textContent === "已删除", pod, 60000);
  step("the delete action ended the pod");
  await page.screenshot({ path: `${out}/5-deleted.png`, fullPage: true });
}

function kubectl(...args) {
  return execFileSync("kubectl", args, { env: { ...process.env, KUBECONFIG: kubeconfig }, encoding: "utf8" });
}

async function serve() {
  const pod = 'section[data-pod="web"]';
  await page.goto(url);
  await page.waitForSelector(`${pod} .diagram svg`);
  await readyIs(ready("web", "nginx"), "true");
  await until((p) => /Service web 10\.9[6-9]\.\S+ 80→80/.test(document.querySelector(`${p} .diagram`)?.textContent), pod);
  step("the pod kubectl applied is drawn behind its Service");
  await page.screenshot({ path: `${out}/1-service.png`, fullPage: true });

  await page.click(`${pod} tr[data-container="nginx"] button[data-probe="Readiness"]`);
  await readyIs(ready("web", "nginx"), "false");
  await until((p) => document.querySelector(`${p} .diagram`)?.textContent.includes("not ready: gets no traffic"), pod);
  const seen = kubectl("get", "pod", "web", "-o", "jsonpath={.status.containerStatuses[0].ready}");
  if (seen !== "false") throw new Error(`kubectl sees ready=${seen} while the probe fails`);
  step("kubectl sees the pod not ready while its probe is made to fail");
  await page.screenshot({ path: `${out}/2-not-ready.png`, fullPage: true });

  await page.click(`${pod} tr[data-container="nginx"] button[data-probe="Readiness"]`);
  await readyIs(ready("web", "nginx"), "true");
  await until((p) => !document.querySelector(`${p} .diagram`)?.textContent.includes("not ready"), pod);
  step("the Service takes the pod back once the probe passes");
}

async function linux() {
  const pod = 'section[data-pod="ids"]';
  await page.goto(url);
  await until((p) => /PID \d+/.test(document.querySelector(`${p} .diagram`)?.textContent), pod);
  await until((p) => /own: mnt:\[\d+\]/.test(document.querySelector(`${p} .diagram`)?.textContent), pod);
  const drawn = await text(`${pod} .diagram`);
  for (const [what, re] of [["pid", /PID (\d+)/], ["net", /net:\[(\d+)\]/], ["uts", /uts:\[(\d+)\]/]]) {
    const m = drawn.match(re);
    if (m) step(`drawn ${what} ${m[1]}`);
  }
  await page.screenshot({ path: `${out}/1-ids.png`, fullPage: true });
}

try {
  await ({ run, serve, linux })[scenario]();
} finally {
  await browser.close();
}
