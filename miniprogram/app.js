// The mini-program's entry. Pages are written with Component() (WeChat builds pages with it too),
// so the same files load in WeChat and in miniprogram-simulate; no page relies on getApp().
App({
  onLaunch () {
    // Nothing to do at launch: each page signs in when it first needs the server.
  }
})
