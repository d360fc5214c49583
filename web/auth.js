// Who is signed in. Locally (authMode "dev") a typed dev uid, sent as `Bearer dev:<uid>`,
// which the api accepts in local mode only. In production (authMode "firebase") Firebase
// Authentication: the same ID tokens the api verifies; the Firebase web SDK, vendored in
// web/vendor, is loaded in that mode only.

const DEV_UID = /^[A-Za-z0-9_-]{1,128}$/;
const DEV_KEY = "creator-console.dev-uid";

export async function createAuth(config) {
  return config.authMode === "firebase" ? firebaseAuth(config.firebase) : devAuth();
}

function devAuth() {
  const listeners = new Set();
  let uid = localStorage.getItem(DEV_KEY);
  if (uid && !DEV_UID.test(uid)) uid = null;
  const user = () => (uid ? { uid, label: uid } : null);
  const notify = () => listeners.forEach((fn) => fn(user()));
  return {
    mode: "dev",
    user,
    async token() {
      return uid ? `dev:${uid}` : null;
    },
    onChange(fn) {
      listeners.add(fn);
      fn(user());
    },
    async signInDev(value) {
      const typed = value.trim();
      if (!DEV_UID.test(typed)) {
        throw new Error("A dev uid is 1 to 128 letters, digits, _ or -.");
      }
      uid = typed;
      localStorage.setItem(DEV_KEY, uid);
      notify();
    },
    async signOut() {
      uid = null;
      localStorage.removeItem(DEV_KEY);
      notify();
    },
  };
}

async function firebaseAuth(firebaseConfig) {
  if (!firebaseConfig?.apiKey) throw new Error("config.json: authMode firebase needs firebase.apiKey");
  const { initializeApp } = await import("./vendor/firebase-app.js");
  const fb = await import("./vendor/firebase-auth.js");
  const auth = fb.getAuth(initializeApp(firebaseConfig));
  let current = null;
  const user = () =>
    current ? { uid: current.uid, label: current.email || current.displayName || current.uid } : null;
  return {
    mode: "firebase",
    user,
    async token() {
      return current ? current.getIdToken() : null; // refreshed by the SDK when near expiry
    },
    onChange(fn) {
      fb.onAuthStateChanged(auth, (u) => {
        current = u;
        fn(user());
      });
    },
    async signInGoogle() {
      await fb.signInWithPopup(auth, new fb.GoogleAuthProvider());
    },
    async signInEmail(email, password) {
      await fb.signInWithEmailAndPassword(auth, email, password);
    },
    async signOut() {
      await fb.signOut(auth);
    },
  };
}

// The sign-in form for the mode, in `container`; `onError(sentence)` reports a failure.
export function mountSignIn(container, auth, onError) {
  const attempt = (fn) => fn().catch((err) => onError(err.message ?? String(err)));
  if (auth.mode === "dev") {
    container.innerHTML = `
      <form class="sign-in" data-testid="dev-sign-in">
        <label for="dev-uid">Dev identity (local only)</label>
        <input id="dev-uid" name="uid" autocomplete="username" required
               pattern="[A-Za-z0-9_\\-]{1,128}" placeholder="e.g. alice">
        <button type="submit">Sign in</button>
        <p class="hint">A new dev identity starts with 100 tokens. Operators: <code>admin</code>.</p>
      </form>`;
    const form = container.querySelector("form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(() => auth.signInDev(form.uid.value));
    });
    return;
  }
  container.innerHTML = `
    <div class="sign-in">
      <button type="button" data-action="google">Sign in with Google</button>
      <form data-action="email">
        <label>Email <input name="email" type="email" autocomplete="username" required></label>
        <label>Password <input name="password" type="password" autocomplete="current-password"
               required></label>
        <button type="submit">Sign in</button>
      </form>
    </div>`;
  container
    .querySelector('[data-action="google"]')
    .addEventListener("click", () => attempt(() => auth.signInGoogle()));
  const form = container.querySelector("form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(() => auth.signInEmail(form.email.value, form.password.value));
  });
}
