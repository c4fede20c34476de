// A scripted browser for the authorization-code flow against provider.mjs: follows the
// redirects with a cookie jar, submits the dev login form (as USERNAME) and the consent
// form, and finally requests the loopback redirect URI (delivering the code to the
// waiting client). Exit 1 when the flow does not reach the redirect URI.
//
//   NODE_EXTRA_CA_CERTS=ca.pem node browser.mjs AUTHORIZATION_URL USERNAME
const [start, username] = process.argv.slice(2);
const jar = new Map();
const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
const remember = (response) => {
  const cookies = response.headers.getSetCookie
    ? response.headers.getSetCookie()
    : (response.headers.get("set-cookie") || "").split(/,(?=[^;]+=)/).filter(Boolean);
  for (const cookie of cookies) {
    const [pair] = cookie.split(";");
    const [name, value] = pair.split("=");
    jar.set(name.trim(), value);
  }
};

async function go(url, init = {}) {
  for (let hops = 0; hops < 20; hops++) {
    const target = new URL(url);
    if (target.protocol === "http:" && target.hostname === "127.0.0.1" && target.pathname === "/callback") {
      const delivered = await fetch(target);
      process.exit(delivered.ok ? 0 : 1);
    }
    const response = await fetch(url, { ...init, redirect: "manual", headers: { ...(init.headers || {}), cookie: cookieHeader() } });
    remember(response);
    init = {};
    const location = response.headers.get("location");
    if (location) {
      url = new URL(location, url).toString();
      continue;
    }
    return { url, response, body: await response.text() };
  }
  throw new Error("too many redirects");
}

async function submit(page, fields) {
  const action = page.body.match(/<form[^>]*action="([^"]+)"/);
  if (!action) throw new Error(`no form at ${page.url}: ${page.body.slice(0, 200)}`);
  return go(new URL(action[1], page.url).toString(), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  });
}

let page = await go(start);
for (let step = 0; step < 4; step++) {
  if (/name="login"/.test(page.body)) {
    page = await submit(page, { prompt: "login", login: username, password: "any" });
  } else if (/name="prompt" value="consent"/.test(page.body) || /consent/.test(page.body)) {
    page = await submit(page, { prompt: "consent" });
  } else {
    break;
  }
}
console.error(`the flow stopped at ${page.url} (${page.response.status}): ${page.body.slice(0, 300)}`);
process.exit(1);
