// A foreman or team member binds WeChat with the bureau's one-time code, then lands on their
// own role's queue after allowing the messages that will follow (new leads, assignments).
const api = require('../../../request.js')
const subscribe = require('../../../subscribe.js')

const ROLE_LABELS = { foreman: '工长', team_member: '处置工作小组成员' }

Component({
  data: { code: '', error: '', busy: false, bound: false, profile: null, roleLabel: '' },
  methods: {
    onLoad () {
      subscribe.load()
    },
    onCode (e) {
      this.setData({ code: e.detail.value.toUpperCase(), error: '' })
    },
    bind () {
      const code = this.data.code.trim()
      if (!code) {
        this.setData({ error: '请输入绑定码。' })
        return Promise.resolve()
      }
      return this.signIn(code)
    },
    async signIn (code) {
      this.setData({ busy: true, error: '' })
      try {
        const out = await api.signInStaff(typeof code === 'string' ? code : '')
        this.setData({
          busy: false,
          bound: true,
          profile: { name: out.name, street: out.street, team: out.team },
          roleLabel: ROLE_LABELS[out.role] || ''
        })
      } catch (err) {
        const message = err.code === 'binding_required'
          ? '这个微信还没有绑定，请输入区信访局发给您的绑定码。'
          : err.message
        this.setData({ busy: false, error: message })
      }
    },
    enter () {
      const role = api.getRole()
      return subscribe.ask(role).then(() => {
        wx.redirectTo({ url: api.ROLE_PAGES[role].home })
      })
    }
  }
})
