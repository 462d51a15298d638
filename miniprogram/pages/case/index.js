// A notification's page link (pages/case/index?delivery=…&number=…) lands here: the same link
// goes to workers, foremen and team members, so the signed-in role picks the page.
const api = require('../../request.js')

Component({
  methods: {
    onLoad (query) {
      wx.redirectTo({ url: api.routeFor(api.getRole() || 'complainant', query) })
    }
  }
})
