// Home: scan a foreman's code, open my cases, or the staff entrance.
const api = require('../../request.js')
const complaint = require('../../complaint.js')

const STAFF_LABELS = { foreman: '进入工长工作台', team_member: '进入处置小组工作台' }

Component({
  data: { error: '', staffLabel: '工长 / 处置小组登录' },
  methods: {
    onLoad () {
      this.setData({ staffLabel: STAFF_LABELS[api.getRole()] || '工长 / 处置小组登录' })
    },
    scan () {
      this.setData({ error: '' })
      wx.scanCode({
        onlyFromCamera: true,
        success: (res) => {
          // A mini-program code gives the page path with scene=…; an ordinary QR code the link.
          const path = res.path || ''
          const scene = /[?&]scene=([^&]+)/.exec(path)
          const token = scene
            ? complaint.tokenFromQuery({ scene: scene[1] })
            : complaint.tokenFromLink(res.result)
          if (!token) {
            this.setData({ error: '这不是工长的投诉二维码，请扫描工地告示牌上的工长二维码。' })
            return
          }
          wx.navigateTo({ url: '/pages/report/index?token=' + token })
        }
      })
    },
    openMyCases () {
      wx.navigateTo({ url: '/pages/worker/cases/index' })
    },
    openStaff () {
      const role = api.getRole()
      if (role === 'foreman' || role === 'team_member') {
        wx.redirectTo({ url: api.ROLE_PAGES[role].home })
      } else {
        wx.navigateTo({ url: '/pages/staff/bind/index' })
      }
    }
  }
})
